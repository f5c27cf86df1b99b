#!/usr/bin/env bash
# Installs helm, the one tool tests/deploy/test_helm.py needs for deploy/helm/salesfloor, into var/tools/bin
# (git-ignored). helm is a Go module, so it is built from source with the machine's Go (1.26+ for this
# version); the Go module proxy is the only network it needs. A no-op when var/tools/bin/helm already is
# that version, so `make test` can run it every time.
#   bash deploy/helm/install-helm.sh
set -euo pipefail

HELM_VERSION=v3.22.0
# What helm's own release build stamps in with -ldflags (its Makefile): the version `helm version` reports,
# and the Kubernetes version of its client-go (k8s.io/client-go v0.37.0 -> 1.37) that `helm template` and
# `helm lint` assume without --kube-version. A bare `go install` would report "v3.22" and assume 1.20.
KUBE_MAJOR=1
KUBE_MINOR=37
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for package in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    LDFLAGS+=" -X $package.k8sVersionMajor=$KUBE_MAJOR -X $package.k8sVersionMinor=$KUBE_MINOR"
done
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/var/tools/bin"
HELM="$BIN/helm"

installed_version() {
    [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null
}

if [ "$(installed_version || true)" = "$HELM_VERSION" ]; then
    exit 0
fi

command -v go >/dev/null || {
    echo "error: go not found: install Go 1.26+ (helm $HELM_VERSION is built with \`go install\`)" >&2
    exit 1
}
mkdir -p "$BIN"
echo "installing helm $HELM_VERSION into ${BIN#"$ROOT"/} (go install; a few minutes the first time)"
GOBIN="$BIN" go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

got=$(installed_version || true)
if [ "$got" != "$HELM_VERSION" ]; then
    echo "error: $HELM reports version '${got}', expected $HELM_VERSION" >&2
    exit 1
fi
echo "helm $HELM_VERSION installed: $HELM"
