#!/usr/bin/env bash
# The release core under a real wasm3 interpreter (pywasm3 from PyPI), driven through its ABI.
#
#   tests/wasm3/run.sh [pytest args]
#
# Installs the pinned requirements into a virtual environment (build/wasm3-venv, or $WASM3_VENV) and
# runs pytest. pywasm3 compiles its bundled wasm3 from source during the install: that needs gcc and the
# Python headers. If it cannot be installed this script FAILS: a wasm3 test that silently skips would
# let a module wasm3 cannot run reach the board.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${WASM3_VENV:-$root/build/wasm3-venv}"
python="${PYTHON:-python3}"
wasm="${PICOKUBELET_WASM:-$root/build/picokubelet.wasm}"

if [ ! -f "$wasm" ]; then
    if [ -x "$root/node_modules/.bin/asc" ]; then
        echo "tests/wasm3: building the release core ($wasm)"
        (cd "$root" && npx asc assembly/kubelet.ts --target release)
    else
        echo "tests/wasm3: FAILED: $wasm is missing and AssemblyScript is not installed (run: npm ci && npm run asbuild:release)" >&2
        exit 1
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv "$venv"; then
        echo "tests/wasm3: FAILED: cannot create a virtual environment with $python (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements.txt"; then
    cat >&2 <<MSG
tests/wasm3: FAILED: could not install $(tr '\n' ' ' < "$here/requirements.txt" | sed 's/#[^ ]* //g')
  pywasm3 builds the wasm3 interpreter from source while it installs; it needs a C compiler (gcc) and the
  Python development headers (python3-dev for Debian's Python). Without it the release core is not
  checked against wasm3 at all, so this is a failure, not a skip.
MSG
    exit 1
fi
if ! "$venv/bin/python" -c "import wasm3" 2>/dev/null; then
    echo "tests/wasm3: FAILED: pywasm3 installed but 'import wasm3' fails (its C extension did not build)" >&2
    exit 1
fi

cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
