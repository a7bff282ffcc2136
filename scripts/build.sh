#!/usr/bin/env bash
# Incremental build of the core (.wasm, release and debug) and the TypeScript (host-sim/dist, build/ts).
# Each output is rebuilt only when one of its inputs changed since its last successful build, so
# `npm run demo` and `npm test` do not pay ~55 s for an unchanged tree.
#
#   bash scripts/build.sh [all|core|ts] [--force]
#
# A step's stamp is taken when the step starts and put in place only when it succeeds: a failed build, or
# a file edited while the compiler ran, leaves the output stale, and the next run builds it again.
set -euo pipefail
cd "$(dirname "$0")/.."
what=all
force=0
for a in "$@"; do
  case "$a" in
    all | core | ts) what=$a ;;
    --force) force=1 ;;
    *) echo "usage: bash scripts/build.sh [all|core|ts] [--force]" >&2; exit 2 ;;
  esac
done

# stale STAMP INPUT...: true when STAMP is missing or any input (file or directory, recursively) is newer.
stale() {
  local stamp=$1
  shift
  [ "$force" = 1 ] && return 0
  [ -e "$stamp" ] || return 0
  # Python caches (tests/wasm3) are written by test runs, not edits.
  [ -n "$(find "$@" -name __pycache__ -prune -o -newer "$stamp" -print -quit 2>/dev/null)" ]
}

# step NAME STAMP 'COMMAND' INPUT...
step() {
  local name=$1 stamp=$2 cmd=$3
  shift 3
  if ! stale "$stamp" "$@"; then
    echo "build: $name up to date"
    return 0
  fi
  local started
  mkdir -p "$(dirname "$stamp")"
  started=$(mktemp "$stamp.XXXXXX")
  if bash -c "$cmd"; then
    mv -f "$started" "$stamp"
  else
    rm -f "$started" "$stamp"
    echo "build: $name failed" >&2
    return 1
  fi
}

# The compiler's own version is an input too (node_modules/.package-lock.json changes with npm ci).
DEPS=(node_modules/.package-lock.json)

if [ "$what" = all ] || [ "$what" = core ]; then
  for target in release debug; do
    out=$(node -p "require('./asconfig.json').targets['$target'].outFile")
    # The transform stores the long string literals as UTF-8 (see the script); package.json's asbuild:* say the same.
    step "core ($target, $out)" "$out.built" "npx asc assembly/kubelet.ts --target $target --transform ./scripts/asc-utf8-text.mjs" \
      assembly asconfig.json "${DEPS[@]}" scripts/build.sh scripts/asc-utf8-text.mjs scripts/asc-utf8-text.mjs
  done
fi

if [ "$what" = all ] || [ "$what" = ts ]; then
  # The stamps and tsc's build info live inside the output directories: deleting one deletes the others.
  step "host-sim (host-sim/dist)" host-sim/dist/.built \
    "npx tsc -p host-sim --incremental --tsBuildInfoFile host-sim/dist/.tsbuildinfo" \
    host-sim/src host-sim/tsconfig.json "${DEPS[@]}" scripts/build.sh
  step "tests (build/ts)" build/ts/.built \
    "npx tsc -p tests --incremental --tsBuildInfoFile build/ts/.tsbuildinfo" \
    tests host-sim/src tests/tsconfig.json "${DEPS[@]}" scripts/build.sh
fi
