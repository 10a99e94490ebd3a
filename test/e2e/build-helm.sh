#!/usr/bin/env bash
# Builds helm from its Go module into .cache/control-plane/bin/ (the chart test renders apiservice/chart with it).
# Skips the build when the binary already reports the wanted version.
#   HELM_VERSION  helm release (default v3.19.0)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-modules.sh"

HELM_VERSION="${HELM_VERSION:-v3.19.0}"

if has_version "$BIN/helm" version "Version:\"$HELM_VERSION\""; then
  echo "helm $HELM_VERSION: up to date"
else
  # helm's go.mod has no replace directives: requiring the release alone resolves its own dependency versions.
  helm_gomod="$(gomod "helm.sh/helm/v3@$HELM_VERSION")"
  src="$OUT/src-helm"
  mkdir -p "$src"
  printf 'module local/control-plane/helm\n\ngo %s\n\nrequire helm.sh/helm/v3 %s\n' "$(go_line "$helm_gomod")" "$HELM_VERSION" >"$src/go.mod"
  # As helm's Makefile does: its version, and the Kubernetes version its client-go is (v0.34 -> 1.34) as the
  # default .Capabilities.KubeVersion of 'helm template' and lint.
  kube_minor="$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "$helm_gomod")"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in chartutil lint/rules; do
    ldflags+=" -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMinor=$kube_minor"
  done
  echo "helm $HELM_VERSION: building"
  (cd "$src" && go build -ldflags "$ldflags" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm)
  has_version "$BIN/helm" version "Version:\"$HELM_VERSION\""
fi

"$BIN/helm" version --short
