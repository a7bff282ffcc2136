#!/usr/bin/env bash
# Runs every test suite of picokubelet from a fresh clone and ends with one line "N passed, N failed".
#
#   install (Debian packages, npm ci) -> build (core .wasm, host-sim, tests) -> start the local control plane
#   -> core specs (as-pect) -> node:test suites (module, ABI, host-sim, end-to-end) -> the end-to-end suites
#   again on a second control plane over kine -> control-plane suite -> firmware C (ctest) -> the core under
#   wasm3 (pytest + pywasm3) -> stop everything.
#
# Each suite's output is kept in build/test-logs/. A suite that crashes without a count is one failure.
# Set PK_SUITES to a space-separated subset (core node kine cluster firmware wasm3) to run fewer; any other
# name is refused with exit 2. The build is incremental (scripts/build.sh): unchanged outputs are kept.
# Opt-in: v131 (the end-to-end suites and tests/cluster/v131.test.mjs on Kubernetes v1.31; its first run on a
# machine builds v1.31, ~15 min on 2 cores): PK_SUITES="core node kine cluster firmware wasm3 v131".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGS="$ROOT/build/test-logs"
VALID_SUITES="core node kine cluster firmware wasm3 v131"
SUITES="${PK_SUITES:-core node kine cluster firmware wasm3}"
# A misspelt suite must not turn into "0 passed, 0 failed" and exit 0.
for s in $SUITES; do
  case " $VALID_SUITES " in
    *" $s "*) ;;
    *) echo "scripts/test.sh: unknown suite '$s' in PK_SUITES; valid suites: $VALID_SUITES" >&2; exit 2 ;;
  esac
done
if [ -z "${SUITES// /}" ]; then
  echo "scripts/test.sh: PK_SUITES names no suite; valid suites: $VALID_SUITES" >&2
  exit 2
fi
# The control plane's directory; the suites read the same variable.
export PICOKUBELET_CLUSTER_DIR="${PICOKUBELET_CLUSTER_DIR:-$ROOT/.cluster}"
passed=0
failed=0
started_cluster=0

say() { printf '\n==> %s\n' "$*"; }
strip() { sed -e 's/\x1b\[[0-9;]*m//g'; }
count() { # suite passed failed
  printf '    %s: %s passed, %s failed\n' "$1" "$2" "$3"
  passed=$((passed + $2))
  failed=$((failed + $3))
}
KINE_DIR="$ROOT/build/kine-cluster"
V131_DIR="$ROOT/build/v131-cluster"
# The second control plane an end-to-end rerun has up (see e2e_on), for the cleanup.
second_dir=""
cleanup() {
  if [ -n "$second_dir" ]; then node tools/cluster.mjs down --purge --dir "$second_dir" >/dev/null 2>&1 || true; fi
  if [ "$started_cluster" = 1 ]; then node tools/cluster.mjs down --dir "$PICOKUBELET_CLUSTER_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

bash scripts/install.sh || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$LOGS"

say "building the core and the TypeScript"
if ! npm run -s build 2>&1 | tee "$LOGS/build.log"; then
  echo "build failed (see $LOGS/build.log)"
  echo "0 passed, 1 failed"
  exit 1
fi

want() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want node || want cluster; then
  say "starting the local control plane"
  if node tools/cluster.mjs status --dir "$PICOKUBELET_CLUSTER_DIR" >/dev/null 2>&1; then
    echo "    already running"
  elif node tools/cluster.mjs up --dir "$PICOKUBELET_CLUSTER_DIR"; then
    started_cluster=1
  else
    echo "    the local control plane did not start: end-to-end and cluster suites will fail"
  fi
fi

if want core; then
  say "core specs (as-pect)"
  npm run -s test:core 2>&1 | strip | tee "$LOGS/core.log" | grep -E '✔|❌|\[Tests\]|\[Result\]|Failed|Actual|Expected' || true
  line=$(grep -E '\[Tests\]:' "$LOGS/core.log" | tail -1)
  if [[ $line =~ ([0-9]+)\ /\ ([0-9]+) ]]; then
    count core "${BASH_REMATCH[1]}" $((BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    count core 0 1
  fi
fi

node_suite() { # name, args...
  local name=$1
  shift
  node --test --test-reporter=tap "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  grep -E '^(not ok|# Subtest)|^\s+(error|expected|actual|location):' "$LOGS/$name.log" | grep -B1 -A4 'not ok' | head -80 || true
  local p f c
  p=$(grep -E '^# pass ' "$LOGS/$name.log" | tail -1 | awk '{print $3}')
  f=$(grep -E '^# fail ' "$LOGS/$name.log" | tail -1 | awk '{print $3}')
  c=$(grep -E '^# cancelled ' "$LOGS/$name.log" | tail -1 | awk '{print $3}')
  if [ -z "$p" ]; then
    count "$name" 0 1
    return
  fi
  f=$((f + ${c:-0}))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  count "$name" "$p" "$f"
}

if want node; then
  say "node:test suites (module, ABI, host-sim, end-to-end)"
  node_suite node build/ts/tests/
fi

# e2e_on SUITE DIR WHAT UP-FLAG...: the end-to-end suites once more, on a second control plane in DIR
# started with `up UP-FLAG...`, purged afterwards. A control plane that does not start is one failure.
e2e_on() {
  local suite=$1 dir=$2 what=$3
  shift 3
  if node tools/cluster.mjs up "$@" --dir "$dir" >"$LOGS/$suite-up.log" 2>&1; then
    second_dir=$dir
    PICOKUBELET_CLUSTER_DIR="$dir" node_suite "$suite" build/ts/tests/e2e/
    node tools/cluster.mjs down --purge --dir "$dir" >/dev/null 2>&1 || true
    second_dir=""
  else
    echo "    the $what control plane did not start (see $LOGS/$suite-up.log)"
    count "$suite" 0 1
  fi
}

if want kine; then
  # The end-to-end suites once more, on a control plane whose API server stores in kine (SQLite), as k3s does.
  say "end-to-end suites on kine"
  e2e_on kine "$KINE_DIR" kine --datastore kine
fi

if want v131; then
  # The end-to-end suites once more, on Kubernetes v1.31 (the API line of the original project's k3s).
  say "end-to-end suites on Kubernetes v1.31"
  e2e_on v131 "$V131_DIR" v1.31 --k8s-version v1.31
  say "v1.31 control-plane test"
  node_suite v131-cluster tests/cluster/v131.test.mjs
fi

if want cluster; then
  say "control-plane suite"
  # v131.test.mjs belongs to the opt-in suite v131 (it builds v1.31 on first use).
  node_suite cluster $(ls tests/cluster/*.test.mjs | grep -v '/v131\.test\.mjs$')
fi

if want firmware; then
  say "firmware C (ctest)"
  if [ -f tests/firmware/run.sh ]; then
    bash tests/firmware/run.sh 2>&1 | strip | tee "$LOGS/firmware.log" | tail -25
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$LOGS/firmware.log" | tail -1)
    if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
      count firmware $((BASH_REMATCH[2] - BASH_REMATCH[1])) "${BASH_REMATCH[1]}"
    else
      count firmware 0 1
    fi
  else
    echo "    tests/firmware/run.sh is missing"
    count firmware 0 1
  fi
fi

if want wasm3; then
  say "the core under wasm3 (pytest + pywasm3)"
  if [ -f tests/wasm3/run.sh ]; then
    bash tests/wasm3/run.sh 2>&1 | strip | tee "$LOGS/wasm3.log" | tail -25
    line=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$LOGS/wasm3.log" | tail -1)
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | awk '{print $1}')
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | awk '{print $1}')
    e=$(grep -oE '[0-9]+ errors?' <<<"$line" | awk '{print $1}')
    if [ -n "$line" ]; then
      count wasm3 "${p:-0}" $(( ${f:-0} + ${e:-0} ))
    else
      count wasm3 0 1
    fi
  else
    echo "    tests/wasm3/run.sh is missing"
    count wasm3 0 1
  fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
