#!/usr/bin/env bash
# Regenerates the k8s.io replace block of a pinned Kubernetes's go.mod from the real
# k8s.io/kubernetes go.mod served by the Go module proxy.
#
# The root module requires every staging module at the non-existent version v0.0.0
# and maps it to ./staging/src/... with replace directives, which only apply in the
# main module. We therefore replace each of them with the published v0.<minor>.<patch>.
#
# Usage: tools/k8s-testenv/update-gomod.sh [K8S_VERSION]   (default: v1.36.3)
#
# The version line of ./go.mod (the default of `cluster.mjs up`) is edited in
# ./go.mod; any other line in v1.<minor>/go.mod (created if missing), which
# tools/cluster.mjs builds with `go build -modfile=v1.<minor>/go.mod` from the same
# harness source (tools/k8s-versions.mjs).
set -euo pipefail
export GOTOOLCHAIN=local
K8S_VERSION="${1:-v1.36.3}"
LINE="${K8S_VERSION%.*}"                    # v1.31
STAGING_VERSION="v0.${K8S_VERSION#v1.}"     # v0.31.14
STAGING_LINE="v0.${LINE#v1.}"               # v0.31
cd "$(dirname "$0")"

main_version="$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod | head -1)"
if [ "${main_version%.*}" = "$LINE" ]; then
  MODFILE=go.mod
else
  MODFILE="$LINE/go.mod"
  if [ ! -f "$MODFILE" ]; then
    mkdir -p "$LINE"
    # The language version the tool directives need; GODEBUG defaults as upstream sets them (below).
    printf 'module picokubelet.dev/tools/k8s-testenv\n\ngo 1.24.0\n' >"$MODFILE"
  fi
fi
export GOFLAGS="-mod=mod -modfile=$MODFILE"

modfile="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$modfile" ] || { echo "cannot locate go.mod of k8s.io/kubernetes@${K8S_VERSION}" >&2; exit 1; }

# Every "k8s.io/<x> v0.0.0" require line is a staging module.
staging="$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$modfile" | sort -u)"
[ -n "$staging" ] || { echo "no staging modules found in $modfile" >&2; exit 1; }

# The proxy does not serve every staging module at every patch (for v1.31.14: kube-scheduler,
# kube-controller-manager and endpointslice stop at v0.31.13, kube-proxy at v0.31.11). Then
# the newest patch of the same line below it is used and named here; check that its code
# is the same (tools/README.md).
staging_version() {
  local m=$1 v
  if go mod download "$m@$STAGING_VERSION" >/dev/null 2>&1; then echo "$STAGING_VERSION"; return; fi
  v="$(go list -m -versions "$m" | tr ' ' '\n' | grep "^${STAGING_LINE}\." | sort -t. -k3,3n |
    awk -F. -v max="${STAGING_VERSION##*.}" '$3 + 0 <= max + 0' | tail -1)"
  if [ -z "$v" ]; then
    # Then nothing we build may need it (sample-apiserver); if something does, `go get` below fails.
    echo "note: the module proxy serves no $m $STAGING_LINE.x; keeping $STAGING_VERSION" >&2
    echo "$STAGING_VERSION"
    return
  fi
  echo "note: $m $STAGING_VERSION is not served; using $v" >&2
  echo "$v"
}

# Make the k8s.io replaces exactly the staging set, touching only what differs (so a
# re-run with the same version leaves the file unchanged).
current="$(go mod edit -json "$MODFILE" | tr -d ' \t\n' | grep -o '"Replace":\[.*\]' | grep -o '{"Old":{"Path":"k8s.io/[^"]*"},"New":{"Path":"[^"]*","Version":"[^"]*"}}' |
  sed 's/{"Old":{"Path":"\([^"]*\)"},"New":{"Path":"\([^"]*\)","Version":"\([^"]*\)"}}/\1 \2 \3/')" || true
args=()
for m in $staging; do
  v="$(staging_version "$m")"
  grep -qx "$m $m $v" <<<"$current" || args+=("-replace=${m}=${m}@${v}")
done
for m in $(awk '{print $1}' <<<"$current"); do
  grep -qx "$m" <<<"$staging" || args+=("-dropreplace=${m}")
done
if [ "${#args[@]}" -gt 0 ]; then go mod edit "${args[@]}" "$MODFILE"; fi
# Upstream's GODEBUG defaults: its godebug line, else those of its go line.
godebug="$(awk '$1 == "godebug" && $2 ~ /^default=/ { print $2 }' "$modfile")"
[ -n "$godebug" ] || godebug="default=go$(awk '$1 == "go" { split($2, v, "."); print v[1] "." v[2] }' "$modfile")"
go mod edit -godebug="$godebug" "$MODFILE"

# The etcd the API server is built with (its client); the embedded server at the same version.
etcd="$(awk '$1 == "go.etcd.io/etcd/client/v3" { print $2 }' "$modfile")"
echo "k8s.io/kubernetes ${K8S_VERSION} in ${MODFILE}: $(echo "$staging" | wc -l) staging modules -> ${STAGING_VERSION}; etcd ${etcd}; godebug ${godebug}"
go get "k8s.io/kubernetes@${K8S_VERSION}" \
  "go.etcd.io/etcd/server/v3@${etcd}" "go.etcd.io/etcd/client/v3@${etcd}" \
  "go.etcd.io/etcd/api/v3@${etcd}" "go.etcd.io/etcd/client/pkg/v3@${etcd}"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go get -tool "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}"
done
go mod tidy
