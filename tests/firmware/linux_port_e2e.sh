#!/usr/bin/env bash
# The Linux host port against the local control plane: the kubelet port's serving certificate through the
# host crypto ops (key, CSR, install), the client CA check, and the certificate directory across a restart.
#
#   node tools/cluster.mjs up                                   # the local control plane
#   npm run build                                               # the core (build/picokubelet.wasm)
#   WASM3_SOURCE_DIR=/path/to/wasm3 PASSES=default tests/firmware/run.sh   # builds picokubelet-linux
#   tests/firmware/linux_port_e2e.sh [path/to/picokubelet-linux]
#
# Not part of CI: CI has no wasm3 source (firmware/README.md "Tests"). Needs curl and openssl. Ends with
# "N passed, N failed" and exits non-zero when a check failed.
#
#  1. A node with only a client certificate and --cert-dir starts with an empty serving slot: the core makes
#     a key and a kubernetes.io/kubelet-serving CSR, the control plane's approver approves it, the core
#     installs the issued certificate, and the host stores it (key 0600).
#  2. The kubelet port presents it: it verifies against the cluster CA for the node's IP (as kube-apiserver
#     does with --kubelet-certificate-authority); the API server's kubelet client certificate is accepted,
#     one from another CA is refused during the handshake.
#     An anonymous client gets 401 from the core; /metrics/resource carries the host's CPU reading; kubectl
#     logs for a pod bound to the node comes from the node through kube-apiserver's verified connection.
#  3. A restart with the same --cert-dir uses the stored certificate: no second CSR.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-$root/build/firmware-host/linux/picokubelet-linux}"
dir="${PICOKUBELET_CLUSTER_DIR:-$root/.cluster}"
kubectl=("$dir/bin/kubectl" --kubeconfig "$dir/admin.kubeconfig")
pki="$dir/pki"
passed=0
failed=0
check() { # description, then a command that must succeed
    local what="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}
# wait_for FILE REGEX SECONDS: polls a log for a line.
wait_for() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

for need in "$bin" "$root/build/picokubelet.wasm" "$dir/admin.kubeconfig" "$pki/apiserver-kubelet-client.crt"; do
    if [ ! -e "$need" ]; then
        echo "linux_port_e2e: $need is missing (see the header of this script)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

work="$(mktemp -d /tmp/pk-linux-e2e-XXXXXX)"
name="pk-linux-e2e-$RANDOM"
ip="127.0.$((10 + RANDOM % 200)).$((10 + RANDOM % 200))"
port=$((20000 + RANDOM % 20000))
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; wait "$pid" 2>/dev/null; fi
    "${kubectl[@]}" delete node "$name" --ignore-not-found >/dev/null 2>&1
    "${kubectl[@]}" get csr -o name 2>/dev/null | while read -r c; do
        if "${kubectl[@]}" get "$c" -o jsonpath='{.spec.username}' 2>/dev/null | grep -qx "system:node:$name"; then
            "${kubectl[@]}" delete "$c" >/dev/null 2>&1
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

node "$root/tools/cluster.mjs" kubeconfig-for-node "$name" --out "$work/node.kubeconfig" --dir "$dir" >/dev/null
run_node() { # log file
    "$bin" --kubeconfig "$work/node.kubeconfig" --node-name "$name" --server-name localhost --ipv4 "$ip" \
        --kubelet-port "$port" --cert-dir "$work/certs" --wasm "$root/build/picokubelet.wasm" --summary-every 0 \
        --log-level debug \
        >"$1" 2>&1 &
    pid=$!
}
csrs_of_node() {
    "${kubectl[@]}" get csr -o jsonpath='{range .items[*]}{.spec.username}{"\n"}{end}' | grep -cx "system:node:$name"
}

# 1. first start: CSR, approval, install, stored.
run_node "$work/first.log"
check "the core asked for a serving certificate (CSR)" wait_for "$work/first.log" "serving certificate: requested with CSR csr-" 60
check "the issued certificate was installed and stored" wait_for "$work/first.log" "serving slot: certificate installed .* and stored" 120
check "the private key file is mode 0600" test "$(stat -c %a "$work/certs/serving.key" 2>/dev/null)" = 600
check "the certificate directory is mode 0700" test "$(stat -c %a "$work/certs" 2>/dev/null)" = 700
check "the CSR is signer kubernetes.io/kubelet-serving, from system:node:$name" \
    bash -c "'${kubectl[0]}' --kubeconfig '$dir/admin.kubeconfig' get csr -o jsonpath='{range .items[*]}{.spec.username} {.spec.signerName}{\"\\n\"}{end}' | grep -qx 'system:node:$name kubernetes.io/kubelet-serving'"

# 2. the kubelet port presents it; client certificates are checked.
check "the serving certificate verifies against the cluster CA for $ip" \
    bash -c "openssl s_client -connect '$ip:$port' -CAfile '$pki/ca.crt' -verify_ip '$ip' -verify_return_error </dev/null 2>/dev/null | grep -q 'Verify return code: 0 (ok)'"
check "its subject is system:node:$name in system:nodes" \
    bash -c "openssl s_client -connect '$ip:$port' </dev/null 2>/dev/null | grep -q 'subject=O = system:nodes, CN = system:node:$name'"
check "the API server's kubelet client certificate is accepted (/healthz)" \
    bash -c "curl -sS --max-time 10 --cacert '$pki/ca.crt' --cert '$pki/apiserver-kubelet-client.crt' --key '$pki/apiserver-kubelet-client.key' 'https://$ip:$port/healthz' | grep -qx ok"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/rogue-ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/rogue-ca.key" -subj "/CN=rogue CA" -days 1 -out "$work/rogue-ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/rogue.key" 2>/dev/null
openssl req -new -key "$work/rogue.key" -subj "/O=system:masters/CN=intruder" -out "$work/rogue.csr" 2>/dev/null
openssl x509 -req -in "$work/rogue.csr" -CA "$work/rogue-ca.crt" -CAkey "$work/rogue-ca.key" -CAcreateserial -days 1 \
    -out "$work/rogue.crt" 2>/dev/null
check "a client certificate from another CA is refused in the handshake" \
    bash -c "! curl -sS --max-time 10 --cacert '$pki/ca.crt' --cert '$work/rogue.crt' --key '$work/rogue.key' 'https://$ip:$port/healthz' 2>/dev/null"
check "the host logged the refusal" wait_for "$work/first.log" "refused: its client certificate does not verify against the client CA" 5
check "the private key never appears in the log" bash -c "! grep -q 'PRIVATE KEY' '$work/first.log'"

check "an anonymous client is answered 401 by the core (no identity lines, no token)" \
    bash -c "test \"\$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert '$pki/ca.crt' 'https://$ip:$port/healthz')\" = 401"
check "/metrics/resource carries the host's CPU reading (on_cpu)" \
    bash -c "curl -sS --max-time 10 --cacert '$pki/ca.crt' --cert '$pki/apiserver-kubelet-client.crt' --key '$pki/apiserver-kubelet-client.key' 'https://$ip:$port/metrics/resource' | grep -qE '^node_cpu_usage_seconds_total [0-9.]+ [0-9]+$'"

# kube-apiserver itself verifies the port (--kubelet-certificate-authority) and presents its kubelet client
# certificate: `kubectl logs` for a pod bound to the node comes from the node.
pod="$name-logs"
"${kubectl[@]}" run "$pod" --image=registry.invalid/none --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"$name\",\"tolerations\":[{\"operator\":\"Exists\"}]}}" >/dev/null 2>&1
logs_of_pod() {
    local deadline=$((SECONDS + 40)) out=""
    while [ $SECONDS -lt $deadline ]; do
        out="$("${kubectl[@]}" logs "$pod" --request-timeout=10s 2>&1)"
        if grep -q "container $pod started" <<<"$out"; then
            return 0
        fi
        sleep 1
    done
    echo "    kubectl logs said: $out"
    return 1
}
check "kubectl logs $pod answers with the node's log lines" logs_of_pod
check "the host saw the API server's connection with its identity" \
    wait_for "$work/first.log" "kubelet port: connection [0-9]+ accepted, client CN=picokubelet:kube-apiserver-kubelet-client" 10
"${kubectl[@]}" delete pod "$pod" --grace-period=0 --force --wait=false >/dev/null 2>&1

# 3. restart with the same directory: the stored certificate, no second CSR.
before="$(csrs_of_node)"
kill -INT "$pid"
wait "$pid" 2>/dev/null
run_node "$work/second.log"
check "the restart uses the stored certificate" wait_for "$work/second.log" "serving slot: using the stored certificate" 30
check "the core takes it as one from an earlier run" wait_for "$work/second.log" "serving certificate from an earlier run" 30
check "the restarted port serves it (/healthz)" \
    bash -c "curl -sS --max-time 10 --cacert '$pki/ca.crt' --cert '$pki/apiserver-kubelet-client.crt' --key '$pki/apiserver-kubelet-client.key' 'https://$ip:$port/healthz' | grep -qx ok"
check "no second CSR was made ($before before the restart)" test "$(csrs_of_node)" = "$before"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
