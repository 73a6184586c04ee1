#!/usr/bin/env bash
# Builds the Kubernetes-side tools from the Go module proxy into the cache:
#   kube-apiserver and kubectl (wrapper module on k8s.io/kubernetes), etcd (wrapper module on
#   go.etcd.io/etcd/server/v3), helm and kind (go install).
# Usage: build/go-tools.sh TOOL DEST_DIR      (TOOL: kube | etcd | helm | kind)
# Versions come from versions.env, which the caller has sourced.
set -euo pipefail
tool=$1 dest=$2
work="$SMARTWATCH_CACHE/build/$tool"
mkdir -p "$work" "$dest"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

case "$tool" in
kube)
  v="v$KUBERNETES_VERSION" staging="v0.${KUBERNETES_VERSION#1.}" minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  go mod init smartwatch.local/kube-tools >/dev/null 2>&1
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging paths; point each at its published tag of the same release instead.
  go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p' >gomod.path
  {
    echo "require k8s.io/kubernetes $v"
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' "$(cat gomod.path)"
  } >>go.mod
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$v" "k8s.io/kubernetes/cmd/kubectl@$v" >/dev/null 2>&1 \
    || go get "k8s.io/kubernetes/cmd/kube-apiserver@$v" "k8s.io/kubernetes/cmd/kubectl@$v"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$dest/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  ;;
etcd)
  v="v$ETCD_VERSION"
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  go mod init smartwatch.local/etcd >/dev/null 2>&1
  cat >main.go <<'GO'
// Command etcd runs the etcd server, as the upstream etcd binary does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$v" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@$v"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$dest/etcd" .
  ;;
helm)
  GOBIN="$dest" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  ;;
kind)
  GOBIN="$dest" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@v$KIND_VERSION"
  ;;
*) echo "unknown tool $tool" >&2; exit 2 ;;
esac
