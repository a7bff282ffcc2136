#!/usr/bin/env bash
# The Linux host port against the local control plane: the kubelet port's serving certificate through the
# host crypto ops (key, CSR, install), the client CA check, the certificate directory across a restart, and
# TLS bootstrap of a node's client certificate from a bootstrap token alone.
#
#   node tools/cluster.mjs up [--dir DIR]                       # the local control plane
#   npm run build                                               # the core (build/picokubelet.wasm)
#   WASM3_SOURCE_DIR=/path/to/wasm3 PASSES=default tests/firmware/run.sh   # builds picokubelet-linux
#   [PICOKUBELET_CLUSTER_DIR=DIR] tests/firmware/linux_port_e2e.sh [path/to/picokubelet-linux]
#
# The wasm3 checkout is the pinned commit (firmware/cmake/wasm3_source.cmake), outside this repository.
# Not part of CI: CI has no wasm3 source (firmware/README.md "Tests"). Needs curl, openssl, base64, sha256sum,
# node and `npm run build` (build/ts, for scenario 5).
# Ends with "N passed, N failed" and exits non-zero when a check failed. Cleans up its nodes, CSRs and the
# bootstrap token it made.
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
#  4. TLS bootstrap (issue 12): a second node gets only a bootstrap kubeconfig (`cluster.mjs bootstrap-token`:
#     server, CA and a bootstrap token, no client certificate) and --cert-dir. Its client CSR (signer
#     kubernetes.io/kube-apiserver-client-kubelet, made by system:bootstrap:<id>, request subject
#     CN=system:node:<name>,O=system:nodes with a P-256 key) is auto-approved by the controller-manager and
#     issued; the node registers and becomes Ready; its serving CSR comes from system:node:<name> (it talks as
#     itself); the cert dir holds client.key (0600, dir 0700) and client.crt (that subject, verifies against
#     the cluster CA, the key's public half). A restart with the same flags and directory makes no new CSR
#     and renews the node's Lease with the stored certificate.
#  5. Brain swaps (docs/brain.md): a third node with --state-dir, --brain-public-key and --registry-ca (the
#     cluster CA, which signed the local registry's certificate) pulls a brain pod's image, pushed signed to the
#     local registry by tests/firmware/brain_push.mjs (host-sim's push(), the picokubelet-system namespace and
#     its pull secret), over PROFILE_PUBLIC, verifies it and swaps: the pod Running with imageID the digest, the
#     same bootID, kubeletVersion of v2; proven after 3 renewals and kept as brain-current.wasm. A v3 that traps
#     in start is rolled back (the pod CrashLoopBackOff with BrainCrashed, v2 running again, the same bootID).
#     A restart without --wasm runs the proven v2.
# Every wait polls a condition (a log line, an API field) with a deadline; nothing waits a fixed time.
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
# poll SECONDS COMMAND...: runs the command until it succeeds or the deadline passes.
poll() {
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $deadline ]; do
        "$@" && return 0
        sleep 0.5
    done
    "$@"
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
# The bootstrapping node of scenario 4.
bname="pk-linux-boot-$RANDOM"
bip="127.0.$((10 + RANDOM % 200)).$((10 + RANDOM % 200))"
bport=$((port + 1))
bid=""
pid=""
# The brain node of scenario 5.
sname="pk-linux-brain-$RANDOM"
sip="127.0.$((10 + RANDOM % 200)).$((10 + RANDOM % 200))"
stop_node() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; wait "$pid" 2>/dev/null; fi
    pid=""
}
cleanup() {
    stop_node
    "${kubectl[@]}" -n picokubelet-system delete pod "$sname-v2" "$sname-v3" --ignore-not-found --grace-period=0 \
        --force >/dev/null 2>&1
    "${kubectl[@]}" delete node "$name" "$bname" "$sname" --ignore-not-found >/dev/null 2>&1
    "${kubectl[@]}" get csr -o jsonpath='{range .items[*]}{.metadata.name} {.spec.username}{"\n"}{end}' 2>/dev/null |
        while read -r c user; do
            case "$user" in
            "system:node:$name" | "system:node:$bname" | "system:bootstrap:${bid:-none}")
                "${kubectl[@]}" delete csr "$c" >/dev/null 2>&1 ;;
            esac
        done
    if [ -n "$bid" ]; then
        "${kubectl[@]}" -n kube-system delete secret "bootstrap-token-$bid" --ignore-not-found >/dev/null 2>&1
    fi
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

stop_node

# 4. TLS bootstrap: only a bootstrap kubeconfig and a cert dir.
kc=("${kubectl[@]}")
node "$root/tools/cluster.mjs" bootstrap-token --ttl 1h --out "$work/bootstrap.kubeconfig" --dir "$dir" >/dev/null 2>&1
# The token's id is its public half (system:bootstrap:<id>); the secret half is never printed.
bid="$(sed -nE 's/^ *token: *"?([a-z0-9]{6})\.[a-z0-9]{16}"?.*/\1/p' "$work/bootstrap.kubeconfig" 2>/dev/null)"
check "cluster.mjs bootstrap-token wrote a bootstrap kubeconfig (token id ${bid:-?}) without a client certificate" \
    bash -c "test -n '$bid' && ! grep -q 'client-certificate\|client-key' '$work/bootstrap.kubeconfig'"
run_boot() { # log file
    "$bin" --bootstrap-kubeconfig "$work/bootstrap.kubeconfig" --cert-dir "$work/boot-certs" --node-name "$bname" \
        --server-name localhost --ipv4 "$bip" --kubelet-port "$bport" --wasm "$root/build/picokubelet.wasm" \
        --summary-every 0 --log-level debug \
        >"$1" 2>&1 &
    pid=$!
}
csr_field() { # csr, jsonpath
    "${kc[@]}" get csr "$1" -o jsonpath="$2" 2>/dev/null
}
boot_csr_issued() { # the auto-approver approved it and the signer put a certificate in it
    test "$(csr_field "$bcsr" '{.status.conditions[?(@.type=="Approved")].reason}')" = AutoApproved &&
        test -n "$(csr_field "$bcsr" '{.status.certificate}')"
}
node_ready() {
    test "$("${kc[@]}" get node "$bname" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True
}
serving_csr_as_node() {
    "${kc[@]}" get csr -o jsonpath='{range .items[*]}{.spec.username} {.spec.signerName}{"\n"}{end}' 2>/dev/null |
        grep -qx "system:node:$bname kubernetes.io/kubelet-serving"
}
csrs_of_boot() { # every CSR this node made, with the bootstrap token or as itself
    "${kc[@]}" get csr -o jsonpath='{range .items[*]}{.spec.username}{"\n"}{end}' |
        grep -cxE "system:node:$bname|system:bootstrap:$bid"
}
lease_renew_time() {
    "${kc[@]}" -n kube-node-lease get lease "$bname" -o jsonpath='{.spec.renewTime}' 2>/dev/null
}
lease_renewed_since() { # renewTime before
    local now
    now="$(lease_renew_time)"
    test -n "$now" && test "$now" != "$1"
}

run_boot "$work/boot.log"
check "the bootstrapping node asked for a client certificate (CSR)" \
    wait_for "$work/boot.log" "client certificate: requested with CSR csr-" 60
bcsr="$(grep -oE 'client certificate: requested with CSR csr-[a-z0-9]+' "$work/boot.log" | head -1 | awk '{print $NF}')"
check "its CSR $bcsr has signer kubernetes.io/kube-apiserver-client-kubelet" \
    test "$(csr_field "$bcsr" '{.spec.signerName}')" = kubernetes.io/kube-apiserver-client-kubelet
check "it was made by system:bootstrap:$bid" test "$(csr_field "$bcsr" '{.spec.username}')" = "system:bootstrap:$bid"
csr_field "$bcsr" '{.spec.request}' | base64 -d >"$work/boot.csr" 2>/dev/null
check "its request is for CN=system:node:$bname,O=system:nodes with a P-256 key" \
    bash -c "openssl req -in '$work/boot.csr' -noout -subject -nameopt RFC2253 | grep -qx 'subject=CN=system:node:$bname,O=system:nodes' &&
             openssl req -in '$work/boot.csr' -noout -text | grep -q 'ASN1 OID: prime256v1' &&
             openssl req -in '$work/boot.csr' -noout -verify 2>&1 | grep -qi 'verify OK'"
check "its usages are digital signature and client auth" \
    test "$(csr_field "$bcsr" '{.spec.usages}')" = '["digital signature","client auth"]'
check "it was auto-approved (AutoApproved) and issued" poll 60 boot_csr_issued
check "the node installed the issued certificate and stored it" \
    wait_for "$work/boot.log" "client slot: certificate installed .* and stored" 30
check "TLS bootstrap done: the node talks as system:node:$bname" \
    wait_for "$work/boot.log" "TLS bootstrap done: the node talks as system:node:$bname" 30
check "node $bname is Ready (kubectl)" poll 90 node_ready
check "its serving CSR comes from system:node:$bname (the node is itself now)" poll 60 serving_csr_as_node
# Before the restart: a key still waiting for its certificate is rightly asked for again by the next run.
check "the serving certificate was installed and stored too" \
    wait_for "$work/boot.log" "serving slot: certificate installed .* and stored" 60
check "the private key file client.key is mode 0600" test "$(stat -c %a "$work/boot-certs/client.key" 2>/dev/null)" = 600
check "the cert dir is mode 0700" test "$(stat -c %a "$work/boot-certs" 2>/dev/null)" = 700
check "client.crt's subject is CN=system:node:$bname,O=system:nodes" \
    test "$(openssl x509 -in "$work/boot-certs/client.crt" -noout -subject -nameopt RFC2253 2>/dev/null)" = \
    "subject=CN=system:node:$bname,O=system:nodes"
check "client.crt verifies against the cluster CA as a client certificate" \
    bash -c "openssl verify -CAfile '$pki/ca.crt' -purpose sslclient '$work/boot-certs/client.crt' 2>/dev/null | grep -q ': OK$'"
check "client.crt certifies client.key's public key" \
    bash -c "test \"\$(openssl x509 -in '$work/boot-certs/client.crt' -noout -pubkey)\" = \"\$(openssl pkey -in '$work/boot-certs/client.key' -pubout 2>/dev/null)\""
check "the bootstrap token and the private key never appear in the log" \
    bash -c "! grep -qE 'PRIVATE KEY|$bid\.[a-z0-9]{16}' '$work/boot.log'"

# Restart with the same flags and directory: the stored certificate, no second CSR, the Lease renewed.
check "the node renews its Lease before the restart" wait_for "$work/boot.log" "first lease renewal landed" 60
bbefore="$(csrs_of_boot)"
stop_node
renewed="$(lease_renew_time)"
run_boot "$work/boot2.log"
check "the restart uses the stored client certificate" \
    wait_for "$work/boot2.log" "client slot: using the stored certificate" 30
check "the core takes it as one from an earlier run" \
    wait_for "$work/boot2.log" "client certificate from an earlier run" 30
# renewed was read after the first run stopped: a different renewTime is the restarted node's renewal.
restart_renewed() { test -n "$renewed" && poll 60 lease_renewed_since "$renewed"; }
check "the restarted node renews its Lease (renewTime was ${renewed:-unset})" restart_renewed
check "the restarted core reports its lease renewal" wait_for "$work/boot2.log" "first lease renewal landed" 60
check "the restart did not bootstrap again" bash -c "! grep -q 'TLS bootstrap with the bootstrap token' '$work/boot2.log'"
check "no second CSR was made ($bbefore before the restart)" test "$(csrs_of_boot)" = "$bbefore"
[ "$(csrs_of_boot)" = "$bbefore" ] || "${kc[@]}" get csr | sed 's/^/    /'
check "node $bname is still Ready" node_ready

stop_node

# 5. Brain swaps: pulled from the local registry over PROFILE_PUBLIC, verified, swapped, proven, rolled back.
push_json="$(PICOKUBELET_CLUSTER_DIR="$dir" node "$root/tests/firmware/brain_push.mjs" "$work/brains" 2>"$work/push.err")"
field() { node -e 'process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]] ?? ""))' "$push_json" "$1" 2>/dev/null; }
repo="$(field repo)" v2="$(field v2)" v3="$(field v3)"
pushed() { test -n "$v2" && test -n "$v3" && test -s "$work/brains/brain.key.pub"; }
check "v2 and a v3 that traps at start were pushed signed to the local registry" pushed ||
    sed 's/^/    /' "$work/push.err"
node "$root/tools/cluster.mjs" kubeconfig-for-node "$sname" --out "$work/brain-node.kubeconfig" --dir "$dir" >/dev/null
run_brain_node() { # log file, then extra flags
    local log="$1"
    shift
    "$bin" --kubeconfig "$work/brain-node.kubeconfig" --node-name "$sname" --ipv4 "$sip" --kubelet-port 0 \
        --state-dir "$work/state" --brain-public-key "$work/brains/brain.key.pub" --registry-ca "$pki/ca.crt" \
        --summary-every 0 "$@" >"$log" 2>&1 &
    pid=$!
}
node_info() { # a field of .status.nodeInfo
    "${kubectl[@]}" get node "$sname" -o jsonpath="{.status.nodeInfo.$1}" 2>/dev/null
}
brain_pod() { # pod name, manifest digest
    printf '%s' "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"picokubelet-system\"},
  \"spec\":{\"nodeName\":\"$sname\",\"runtimeClassName\":\"picokubelet-brain\",\"imagePullSecrets\":[{\"name\":\"brain-registry\"}],
  \"tolerations\":[{\"key\":\"picokubelet.dev/no-containers\",\"operator\":\"Exists\"}],
  \"containers\":[{\"name\":\"brain\",\"image\":\"$repo@$2\"}]}}" >"$work/$1.json"
    "${kubectl[@]}" apply -f "$work/$1.json" >/dev/null
}
pod_field() { # pod, jsonpath
    "${kubectl[@]}" -n picokubelet-system get pod "$1" -o jsonpath="$2" 2>/dev/null
}
version="$(node -p "require('$root/package.json').version")"
brain_ready() {
    test "$("${kubectl[@]}" get node "$sname" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True
}
runs_version() { [[ "$(node_info kubeletVersion)" == *-picokubelet."$1" ]]; }
v2_running() { test "$(pod_field "$sname-v2" '{.status.phase}')" = Running; }
kept_is_layer() { # brain-current.json names brain-current.wasm's sha256
    grep -q "\"layer\":\"sha256:$(sha256sum "$work/state/brain-current.wasm" | cut -d' ' -f1)\"" "$work/state/brain-current.json"
}
v3_rolled_back() { test "$(pod_field "$sname-v3" '{.status.containerStatuses[0].state.waiting.reason}')" = CrashLoopBackOff; }

run_brain_node "$work/brain.log" --wasm "$root/build/picokubelet.wasm"
check "the brain node is Ready" poll 60 brain_ready
boot_id="$(node_info bootID)"
check "it runs the core given (kubeletVersion ends -picokubelet.$version)" runs_version "$version"
brain_pod "$sname-v2" "$v2"
check "the v2 brain pod is Running" poll 90 v2_running
check "its imageID is the digest" test "$(pod_field "$sname-v2" '{.status.containerStatuses[0].imageID}')" = "$repo@$v2"
check "the host verified v2 and swapped to it" wait_for "$work/brain.log" "brain: $v2 \(version 0.2.0\) verified; swapping to it" 5
check "kubeletVersion shows v2" poll 30 runs_version 0.2.0
check "the same bootID: a swap, not a reboot" test "$(node_info bootID)" = "$boot_id"
check "v2 proven after 3 Lease renewals and kept as brain-current.wasm" \
    wait_for "$work/brain.log" "kept as $work/state/brain-current.wasm" 90
check "brain-current.json names brain-current.wasm's layer" kept_is_layer
"${kubectl[@]}" -n picokubelet-system delete pod "$sname-v2" --wait=true --timeout=30s >/dev/null 2>&1
brain_pod "$sname-v3" "$v3"
check "the v3 brain pod shows the roll-back (CrashLoopBackOff)" poll 90 v3_rolled_back
check "its message says rolled back: BrainCrashed" \
    grep -q "brain $v3 rolled back: BrainCrashed" <<<"$(pod_field "$sname-v3" '{.status.containerStatuses[0].state.waiting.message}')"
check "the host went back to v2" wait_for "$work/brain.log" "brain: running $v2 again, from the snapshot it handed over" 5
check "kubeletVersion still shows v2" runs_version 0.2.0
check "the same bootID through the roll-back" test "$(node_info bootID)" = "$boot_id"
"${kubectl[@]}" -n picokubelet-system delete pod "$sname-v3" --wait=true --timeout=30s >/dev/null 2>&1
stop_node
run_brain_node "$work/brain2.log"
check "a restart without --wasm runs the proven brain" \
    wait_for "$work/brain2.log" "brain: starting from the proven brain $work/state/brain-current.wasm \($v2, version 0.2.0\)" 10
check "the restarted node is Ready" poll 60 brain_ready
check "and runs v2" poll 30 runs_version 0.2.0
check "no private key or pull secret in the brain node's logs" \
    bash -c "! grep -qE 'PRIVATE KEY|Authorization: Basic' '$work/brain.log' '$work/brain2.log'"
stop_node

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
