#!/usr/bin/env bash
# Regenerates the k8s.io replace block of tools/k8s-testenv/go.mod from the real
# k8s.io/kubernetes go.mod served by the Go module proxy.
#
# The root module requires every staging module at the non-existent version v0.0.0
# and maps it to ./staging/src/... with replace directives, which only apply in the
# main module. We therefore replace each of them with the published v0.<minor>.<patch>.
#
# Usage: tools/k8s-testenv/update-gomod.sh [K8S_VERSION]   (default: v1.36.3)
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
K8S_VERSION="${1:-v1.36.3}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
cd "$(dirname "$0")"

modfile="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$modfile" ] || { echo "cannot locate go.mod of k8s.io/kubernetes@${K8S_VERSION}" >&2; exit 1; }

# Every "k8s.io/<x> v0.0.0" require line is a staging module.
staging="$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$modfile" | sort -u)"
[ -n "$staging" ] || { echo "no staging modules found in $modfile" >&2; exit 1; }

# Make the k8s.io replaces exactly the staging set at STAGING_VERSION, touching
# only what differs (so a re-run with the same version leaves go.mod unchanged).
current="$(go mod edit -json | tr -d ' \t\n' | grep -o '"Replace":\[.*\]' | grep -o '{"Old":{"Path":"k8s.io/[^"]*"},"New":{"Path":"[^"]*","Version":"[^"]*"}}' |
  sed 's/{"Old":{"Path":"\([^"]*\)"},"New":{"Path":"\([^"]*\)","Version":"\([^"]*\)"}}/\1 \2 \3/')"
args=()
for m in $staging; do
  grep -qx "$m $m ${STAGING_VERSION}" <<<"$current" || args+=("-replace=${m}=${m}@${STAGING_VERSION}")
done
for m in $(awk '{print $1}' <<<"$current"); do
  grep -qx "$m" <<<"$staging" || args+=("-dropreplace=${m}")
done
if [ "${#args[@]}" -gt 0 ]; then go mod edit "${args[@]}"; fi

# The etcd version Kubernetes pins (server is indirect there, but we embed it).
etcd="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$modfile")"
echo "k8s.io/kubernetes ${K8S_VERSION}: $(echo "$staging" | wc -l) staging modules -> ${STAGING_VERSION}; etcd ${etcd}"
go get "k8s.io/kubernetes@${K8S_VERSION}" \
  "go.etcd.io/etcd/server/v3@${etcd}" "go.etcd.io/etcd/client/v3@${etcd}" \
  "go.etcd.io/etcd/api/v3@${etcd}" "go.etcd.io/etcd/client/pkg/v3@${etcd}"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go get -tool "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}"
done
go mod tidy
