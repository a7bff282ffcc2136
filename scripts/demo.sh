#!/usr/bin/env bash
# The main job: install, build, and join one picokubelet node to a cluster, then show it the way
# `kubectl` users see it, with the node's LED live until Ctrl-C (which stops everything this started).
#
# The cluster is the one $KUBECONFIG names; when $KUBECONFIG is unset, a local control plane is started
# (tools/cluster.mjs) and the node gets its own system:node:<name> client certificate.
# PK_NODE_NAME sets the node name (default picokubelet-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NAME=${PK_NODE_NAME:-picokubelet-demo}
RUN="$ROOT/build/demo"
SOCK="$RUN/$NAME.sock"
LOG="$RUN/$NAME.log"
SIM=(node "$ROOT/host-sim/bin/picokubelet-sim.js")
started_cluster=0
sim_pid=""

say() { printf '\n==> %s\n' "$*"; }

cleanup() {
  trap - INT TERM EXIT
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    say "stopping the node"
    "${SIM[@]}" ctl --control-socket "$SOCK" --timeout 20 stop >/dev/null 2>&1 || kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  if [ "$started_cluster" = 1 ]; then
    say "stopping the local control plane"
    node tools/cluster.mjs down || true
  fi
}
trap cleanup INT TERM EXIT

bash scripts/install.sh
say "building the core (.wasm) and the host-sim"
npm run -s build

if [ -n "${KUBECONFIG:-}" ]; then
  say "joining the cluster in \$KUBECONFIG ($KUBECONFIG)"
  NODE_KC="$KUBECONFIG"
  VIEW_KC="$KUBECONFIG"
  if command -v kubectl >/dev/null 2>&1; then KUBECTL=kubectl; else KUBECTL="$ROOT/.cluster/bin/kubectl"; fi
else
  say "no \$KUBECONFIG: starting a local control plane (kube-apiserver, controller-manager, scheduler, etcd)"
  if ! node tools/cluster.mjs status >/dev/null 2>&1; then
    node tools/cluster.mjs up
    started_cluster=1
  fi
  NODE_KC=$(node tools/cluster.mjs kubeconfig-for-node "$NAME")
  VIEW_KC="$ROOT/.cluster/admin.kubeconfig"
  KUBECTL="$ROOT/.cluster/bin/kubectl"
fi
k() { KUBECONFIG="$VIEW_KC" "$KUBECTL" "$@"; }

mkdir -p "$RUN"
rm -f "$SOCK"
say "starting node $NAME (log: $LOG)"
"${SIM[@]}" run --name "$NAME" --kubeconfig "$NODE_KC" --led plain --control-socket "$SOCK" >"$LOG" 2>&1 &
sim_pid=$!
for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.2; done
if ! "${SIM[@]}" ctl --control-socket "$SOCK" --timeout 60 wait RUNNING 60 >/dev/null 2>&1; then
  echo "the node did not start; its log:" >&2
  tail -20 "$LOG" >&2
  exit 1
fi
printf 'waiting for the node to turn Ready'
for _ in $(seq 1 60); do
  if [ "$(k get node "$NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = "True" ]; then break; fi
  printf '.'
  sleep 1
done
echo

say "kubectl get nodes -o wide"
k get nodes -o wide
say "kubectl describe node $NAME (conditions)"
k describe node "$NAME" | sed -n '/^Conditions:/,/^Addresses:/p' | sed '$d'
say "kubectl -n kube-node-lease get lease $NAME"
k -n kube-node-lease get lease "$NAME"
say "the node's LED, live (Ctrl-C stops the node$([ "$started_cluster" = 1 ] && echo ' and the control plane'))"
node scripts/demo-led.mjs "$SOCK" || true
