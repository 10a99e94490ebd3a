#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd (and kubectl when the machine has none) from Go modules into .cache/control-plane/bin/, then helm (build-helm.sh).
# Each binary comes from a small wrapper module generated under .cache/control-plane/.
# Skips a binary that already exists and reports the wanted version.
#   KUBE_VERSION  Kubernetes release (default v1.34.9)
#   ETCD_VERSION  etcd release (default: the go.etcd.io/etcd/server/v3 version that release's go.mod requires)
#   HELM_VERSION  see build-helm.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/go-modules.sh"

KUBE_VERSION="${KUBE_VERSION:-v1.34.9}"

# The release's own go.mod: its go version, its staging replace block, the etcd it requires.
kube_gomod="$(gomod "k8s.io/kubernetes@$KUBE_VERSION")"
go_version="$(go_line "$kube_gomod")"
ETCD_VERSION="${ETCD_VERSION:-$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$kube_gomod")}"
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${KUBE_VERSION#v1.}"

# kube-controller-manager runs its namespace, garbage collector and ClusterRole aggregation controllers in the e2e suite.
missing=()
for b in kube-apiserver kube-controller-manager; do
  if has_version "$BIN/$b" --version "Kubernetes $KUBE_VERSION"; then echo "$b $KUBE_VERSION: up to date"; else missing+=("$b"); fi
done
# kubectl: the machine's; built the same way only when it has none.
if command -v kubectl >/dev/null || [ -x "$BIN/kubectl" ]; then echo "kubectl: $(command -v kubectl || echo "$BIN/kubectl")"; else missing+=(kubectl); fi
if [ ${#missing[@]} -gt 0 ]; then
  src="$OUT/src-kube"
  mkdir -p "$src"
  {
    echo "module local/control-plane/kube"
    echo
    echo "go $go_version"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    # Each './staging/src/k8s.io/X' replace of the release becomes 'k8s.io/X => k8s.io/X v0.<minor>.<patch>'.
    awk -v v="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }' "$kube_gomod"
    echo ")"
  } >"$src/go.mod"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  for b in "${missing[@]}"; do
    echo "$b $KUBE_VERSION: building ($(grep -c '=> k8s.io/' "$src/go.mod") staging replaces, go $go_version)"
    (cd "$src" && go build -ldflags "$ldflags" -o "$BIN/$b" "k8s.io/kubernetes/cmd/$b")
    [ "$b" = kubectl ] || has_version "$BIN/$b" --version "Kubernetes $KUBE_VERSION"
  done
fi

if has_version "$BIN/etcd" --version "etcd Version: ${ETCD_VERSION#v}"; then
  echo "etcd $ETCD_VERSION: up to date"
else
  src="$OUT/src-etcd"
  mkdir -p "$src"
  etcd_go="$(go_line "$(gomod "go.etcd.io/etcd/server/v3@$ETCD_VERSION")")"
  printf 'module local/control-plane/etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$etcd_go" "$ETCD_VERSION" >"$src/go.mod"
  echo "etcd $ETCD_VERSION: building"
  (cd "$src" && go build -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  has_version "$BIN/etcd" --version "etcd Version: ${ETCD_VERSION#v}"
fi

"$BIN/kube-apiserver" --version
"$BIN/etcd" --version | sed -n 1p # reads it all: head would close the pipe early, and pipefail then fails on the SIGPIPE

"$ROOT/test/e2e/build-helm.sh"
