#!/usr/bin/env bash
# The main job: install, build, and join one picokubelet node to a cluster, then show it the way
# `kubectl` users see it, with the node's LED live until Ctrl-C (which stops everything this started).
#
# The cluster is the one $KUBECONFIG names; when $KUBECONFIG is unset, a local control plane is started
# (tools/cluster.mjs, in $PICOKUBELET_CLUSTER_DIR or <repo>/.cluster) and the node gets its own
# system:node:<name> client certificate. PK_NODE_NAME sets the node name (default picokubelet-demo).
#
# On a cluster this script did not start, Ctrl-C deletes the Lease and the Node the demo created (when the
# Node did not exist before) and says what it could not delete. The cleanup survives a closed stdout
# (`npm run demo | tee demo.log` and Ctrl-C kills tee first): it ignores SIGPIPE, and its messages go to
# stdout, else the terminal, else nowhere, but the control plane is stopped either way.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NAME=${PK_NODE_NAME:-picokubelet-demo}
CLUSTER_DIR=${PICOKUBELET_CLUSTER_DIR:-$ROOT/.cluster}
RUN="$ROOT/build/demo"
SOCK="$RUN/$NAME.sock"
LOG="$RUN/$NAME.log"
SIM=(node "$ROOT/host-sim/bin/picokubelet-sim.js")
started_cluster=0
sim_pid=""
# Whether the Node existed before this demo: yes, no, or unknown (kubectl could not tell).
node_before=unknown
cleaned=0

# Messages that must not kill the script when stdout is gone.
out() { printf '%s\n' "$*" 2>/dev/null || { printf '%s\n' "$*" >/dev/tty; } 2>/dev/null || true; }
say() { out "" "==> $*"; }
cluster() { node tools/cluster.mjs "$@" --dir "$CLUSTER_DIR"; }
k() { KUBECONFIG="$VIEW_KC" "$KUBECTL" "$@"; }

cleanup() {
  local code=${1:-$?}
  trap - INT TERM EXIT
  # From here on a write to a closed pipe must fail with EPIPE, not kill the shell; and no `set -e`.
  trap '' PIPE
  set +e
  if [ "$cleaned" = 1 ]; then exit "$code"; fi
  cleaned=1
  local foreign=0
  [ "$started_cluster" = 0 ] && [ -n "$sim_pid" ] && foreign=1
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    if [ "$foreign" = 1 ] && [ "$node_before" = no ]; then
      say "stopping the node (cleanup: deleting its Lease and Node with the kubeconfig it was given)"
      "${SIM[@]}" ctl --control-socket "$SOCK" --timeout 20 stop cleanup >/dev/null 2>&1 || kill "$sim_pid" 2>/dev/null
    else
      say "stopping the node"
      "${SIM[@]}" ctl --control-socket "$SOCK" --timeout 20 stop >/dev/null 2>&1 || kill "$sim_pid" 2>/dev/null
    fi
    wait "$sim_pid" 2>/dev/null
  fi
  if [ "$foreign" = 1 ]; then report_leftovers; fi
  if [ "$started_cluster" = 1 ]; then
    say "stopping the local control plane"
    local msg
    msg=$(cluster down 2>&1)
    out "$msg"
  fi
  exit "$code"
}
trap 'cleanup 130' INT
trap 'cleanup 143' TERM
trap 'cleanup' EXIT

# After the node stopped on a cluster the demo did not start: what is left of it, and what to do.
report_leftovers() {
  if [ "$node_before" = yes ]; then
    out "    Node $NAME existed before the demo: left in place (its Lease too)."
    return
  fi
  if [ "$node_before" = unknown ]; then
    out "    kubectl could not tell whether Node $NAME existed before the demo: nothing deleted."
    out "    If the demo created it: kubectl delete node $NAME; kubectl -n kube-node-lease delete lease $NAME"
    return
  fi
  # A system:node identity may not delete its own Node (Node authorizer): the viewing kubeconfig tries.
  if [ -n "$(k get node "$NAME" --ignore-not-found -o name 2>/dev/null)" ]; then
    k delete node "$NAME" --wait=false >/dev/null 2>&1
  fi
  if [ -n "$(k -n kube-node-lease get lease "$NAME" --ignore-not-found -o name 2>/dev/null)" ]; then
    k -n kube-node-lease delete lease "$NAME" --wait=false >/dev/null 2>&1
  fi
  local node lease
  node=$(k get node "$NAME" --ignore-not-found -o name 2>&1)
  lease=$(k -n kube-node-lease get lease "$NAME" --ignore-not-found -o name 2>&1)
  if [ -z "$node" ] && [ -z "$lease" ]; then
    out "    deleted what the demo created: Node $NAME and Lease kube-node-lease/$NAME"
  else
    out "    could not delete everything the demo created ($node $lease); as an admin:"
    out "    kubectl delete node $NAME; kubectl -n kube-node-lease delete lease $NAME"
  fi
}

bash scripts/install.sh
say "building the core (.wasm) and the host-sim (incremental)"
npm run -s build

if [ -n "${KUBECONFIG:-}" ]; then
  say "joining the cluster in \$KUBECONFIG ($KUBECONFIG)"
  NODE_KC="$KUBECONFIG"
  VIEW_KC="$KUBECONFIG"
  if command -v kubectl >/dev/null 2>&1; then KUBECTL=kubectl; else KUBECTL="$CLUSTER_DIR/bin/kubectl"; fi
else
  say "no \$KUBECONFIG: starting a local control plane (kube-apiserver, controller-manager, scheduler, etcd)"
  if ! cluster status >/dev/null 2>&1; then
    started_cluster=1
    cluster up
  fi
  NODE_KC=$(cluster kubeconfig-for-node "$NAME")
  VIEW_KC="$CLUSTER_DIR/admin.kubeconfig"
  KUBECTL="$CLUSTER_DIR/bin/kubectl"
fi

# A few seconds to learn whether the node can work at all: reachable, verifiable, and who it would be.
say "checking the kubeconfig the node will use"
set +e
check=$("${SIM[@]}" check --kubeconfig "$NODE_KC" --timeout 5 2>&1)
rc=$?
set -e
out "$check" | sed 's/^/    /'
if [ "$rc" != 0 ]; then
  echo "the node cannot run with $NODE_KC (see above)" >&2
  exit "$rc"
fi
if grep -q '^admin: yes' <<<"$check"; then
  bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  {
    echo "$bar"
    echo "  WARNING: the node runs with ADMIN credentials ($NODE_KC)."
    echo "  A kubelet needs only its own system:node:<name> identity; a bug or a stolen key here can"
    echo "  change anything in the cluster. Give it a node identity or deploy/picokubelet-rbac.yaml."
    echo "$bar"
  } >&2
fi

if [ "$started_cluster" = 0 ]; then
  # On a cluster the demo did not start, Ctrl-C deletes the Node only if the demo created it.
  if existing=$(k get node "$NAME" --ignore-not-found -o name 2>/dev/null); then
    if [ -n "$existing" ]; then node_before=yes; else node_before=no; fi
  fi
fi

mkdir -p "$RUN"
rm -f "$SOCK"
say "starting node $NAME (log: $LOG)"
# Its own session: Ctrl-C reaches this script, which stops the node through its control socket (with
# cleanup where that applies) instead of the node stopping by itself at the same moment.
CLEANUP_FLAG=()
if [ "$started_cluster" = 0 ] && [ "$node_before" = no ]; then CLEANUP_FLAG=(--cleanup); fi
SETSID=()
if command -v setsid >/dev/null 2>&1; then SETSID=(setsid); fi
"${SETSID[@]}" "${SIM[@]}" run --name "$NAME" --kubeconfig "$NODE_KC" --led plain --control-socket "$SOCK" "${CLEANUP_FLAG[@]}" >"$LOG" 2>&1 &
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
k get nodes -o wide || true
say "kubectl describe node $NAME (conditions)"
k describe node "$NAME" | sed -n '/^Conditions:/,/^Addresses:/p' | sed '$d' || true
say "kubectl -n kube-node-lease get lease $NAME"
k -n kube-node-lease get lease "$NAME" || true

CTL="node host-sim/bin/picokubelet-sim.js ctl --control-socket $SOCK"
say "look around and poke the node (in another terminal, from $ROOT)"
cat <<EOF
    export KUBECONFIG=$VIEW_KC
    $KUBECTL get nodes -o wide; $KUBECTL describe node $NAME
    $CTL stats                 # the core's counters
    $CTL link down 60          # LED DISCONNECTED; NotReady after the controller's grace period
    $CTL heap 15000            # free heap below 20 KiB: the core reports MemoryPressure
    $CTL reset-connection      # the core reconnects
    $CTL help                  # every command
EOF
say "the node's LED, live (Ctrl-C stops the node$([ "$started_cluster" = 1 ] && echo ' and the control plane'))"
node scripts/demo-led.mjs "$SOCK" || true
