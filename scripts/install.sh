#!/usr/bin/env bash
# Installs what building and testing picokubelet needs on a fresh Debian 12 machine:
# Debian packages (wabt, mbedTLS and libsodium headers, cmake, ninja, python3-venv, gcc-multilib) and the pinned npm packages.
# Go (for the local control plane) and Node 20 are expected on PATH. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

need=()
command -v wasm-validate >/dev/null 2>&1 || need+=(wabt)
[ -f /usr/include/mbedtls/ssl.h ] || need+=(libmbedtls-dev)
[ -f /usr/include/sodium.h ] || need+=(libsodium-dev)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v ninja >/dev/null 2>&1 || need+=(ninja-build)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# The firmware's C suites also build as 32-bit programs (the Xtensa ABI's 32-bit long and pointers).
[ -d /usr/lib/gcc/x86_64-linux-gnu/12/32 ] || [ "$(uname -m)" != x86_64 ] || need+=(gcc-multilib)
if [ ${#need[@]} -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install ${need[*]}" >&2; exit 1; }
    sudo_cmd="sudo"
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

command -v node >/dev/null 2>&1 || { echo "error: Node.js 20 is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "error: Node.js 20 or newer is required (found $(node --version))" >&2; exit 1; }
command -v go >/dev/null 2>&1 || echo "warning: go is not on PATH; the local control plane can only start from a cached build" >&2

# npm ci when node_modules is missing or older than the lock file (and always in CI).
if [ -L node_modules ] && { [ "${CI:-}" = "true" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  # A git worktree sharing another checkout's packages: npm ci would empty that checkout's node_modules.
  echo "error: node_modules is a symlink ($(readlink node_modules)); npm ci would replace the packages it points to." >&2
  echo "       Run the suites directly (node --test ..., tests/firmware/run.sh), or remove the link and let this script install." >&2
  exit 1
fi
if [ "${CI:-}" = "true" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "dependencies ready"
