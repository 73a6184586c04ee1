#!/usr/bin/env bash
# Builds the Kubernetes-side tools from the Go module proxy into the cache:
#   kube-apiserver and kubectl (wrapper module on k8s.io/kubernetes), etcd (wrapper module on
#   go.etcd.io/etcd/server/v3), helm and kind (go install); for the kind node image: kubelet,
#   kubeadm and the control plane (same wrapper module), pause (C, from the release's module),
#   containerd, runc, the CNI plugins, CoreDNS and local-path-provisioner; SeaweedFS (the
#   embedded object store's image), helm-docs (the chart README), spark-operator (its image
#   for the kind tier; its SparkApplication CRD for the local stack) and skaffold (the dev loop).
# Usage: build/go-tools.sh TOOL DEST_DIR
#   (TOOL: kube | kube-node | pause | etcd | helm | kind | containerd | runc | cni | coredns |
#    local-path | seaweedfs | helm-docs | spark-operator | spark-operator-crds | skaffold)
# Versions come from versions.env, which the caller has sourced.
set -euo pipefail
tool=$1 dest=$2
work="$SMARTWATCH_CACHE/build/$tool"
mkdir -p "$work" "$dest"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

# go_mod_file MODULE@VERSION: the path of that module's go.mod in the module cache (downloaded
# first); fails, saying what go printed, when go names none.
go_mod_file() {
  local info file
  info=$(go mod download -json "$1")
  file=$(sed -n 's/.*"GoMod": "\(.*\)",/\1/p' <<<"$info")
  [ -n "$file" ] || { echo "go mod download $1 named no go.mod: $info" >&2; return 1; }
  echo "$file"
}

# The wrapper module for k8s.io/kubernetes commands: requires k8s.io/kubernetes and points each
# staging module (required at v0.0.0 and replaced with ./staging paths upstream) at its
# published tag of the same release. Kept in the build folder, so later commands reuse it.
kube_module() {
  v="v$KUBERNETES_VERSION" staging="v0.${KUBERNETES_VERSION#1.}"
  work="$SMARTWATCH_CACHE/build/kube"
  if grep -qx "require k8s.io/kubernetes $v" "$work/go.mod" 2>/dev/null; then cd "$work"; return; fi
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  go mod init smartwatch.local/kube-tools >/dev/null 2>&1
  go_mod_file "k8s.io/kubernetes@$v" >gomod.path
  {
    echo "require k8s.io/kubernetes $v"
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' "$(cat gomod.path)"
  } >>go.mod
}
# kube_build DEST CMD...: builds k8s.io/kubernetes/cmd/CMD of the pinned release into DEST.
kube_build() {
  local dest=$1 minor pkgs=() c; shift
  kube_module
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c@$v"); done
  go get "${pkgs[@]}" >/dev/null 2>&1 || go get "${pkgs[@]}"
  pkgs=(); for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$dest/" "${pkgs[@]}"
}

# wrapper_build MODULE VERSION PKG OUT LDFLAGS [TAGS]: builds MODULE/PKG at VERSION into OUT.
# The module's go.mod carries replace lines, which `go install PKG@VERSION` refuses: a wrapper
# module requires the module and repeats its replace lines (single ones and those of replace
# blocks; not those to local folders, which its zip does not hold).
wrapper_build() {
  local m=$1 v=$2 pkg=$3 out=$4 ldflags=$5 tags=${6:-} gomod
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  go mod init "smartwatch.local/$tool" >/dev/null 2>&1
  gomod=$(go_mod_file "$m@$v")
  {
    echo "require $m $v"
    sed -n '/^replace (/,/^)/{/=>/p};s/^replace \(.*=>.*\)/\1/p' "$gomod" | sed 's/^\s*/replace /' |
      { grep -v '=> *\.' || true; }
  } >>go.mod
  go get "$m/$pkg@$v" >/dev/null 2>&1 || go get "$m/$pkg@$v"
  go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out" "$m/$pkg"
}

case "$tool" in
kube)
  kube_build "$dest" kube-apiserver kubectl
  ;;
kube-node)
  # What a kind node runs besides kube-apiserver: kubelet and kubeadm on the node, and the
  # control plane's other programs (as images).
  kube_build "$dest" kubelet kubeadm kube-controller-manager kube-scheduler kube-proxy
  ;;
pause)
  # The pod sandbox's pause program: C source shipped in the release's module.
  kube_module
  src="$GOMODCACHE/k8s.io/kubernetes@$v/build/pause"
  gcc -Os -Wall -Werror -static -DVERSION="v$(sed -n 's/^TAG ?= //p' "$src/Makefile")" -o "$dest/pause" "$src/linux/pause.c"
  strip "$dest/pause"
  ;;
containerd)
  v="v$CONTAINERD_VERSION" m=github.com/containerd/containerd/v2
  GOBIN="$dest" go install -trimpath -tags no_btrfs -ldflags "-s -w -X $m/version.Version=$v" \
    "$m/cmd/containerd@$v" "$m/cmd/ctr@$v" "$m/cmd/containerd-shim-runc-v2@$v"
  ;;
runc)
  # runc needs cgo (its nsenter is C) and libseccomp for seccomp profiles; linked statically so
  # the node image needs no matching C library.
  CGO_ENABLED=1 GOBIN="$dest" go install -trimpath -tags "seccomp netgo osusergo" \
    -ldflags "-s -w -X main.version=$RUNC_VERSION -extldflags -static" "github.com/opencontainers/runc@v$RUNC_VERSION"
  ;;
cni)
  v="v$CNI_PLUGINS_VERSION" m=github.com/containernetworking/plugins/plugins
  GOBIN="$dest" go install -trimpath -ldflags "-s -w" \
    "$m/main/ptp@$v" "$m/main/loopback@$v" "$m/ipam/host-local@$v" "$m/meta/portmap@$v"
  ;;
coredns)
  # CoreDNS with just the plugins of kubeadm's Corefile (a build of its own, as CoreDNS's
  # docs describe: import the plugins, then run coremain).
  v="v$COREDNS_VERSION"
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  go mod init smartwatch.local/coredns >/dev/null 2>&1
  plugins="errors health ready kubernetes metrics forward cache loop reload loadbalance log"  # metrics: the prometheus directive
  {
    echo '// Command coredns runs CoreDNS with the plugins of kubeadm'"'"'s default Corefile.'
    echo 'package main'
    echo
    echo 'import ('
    echo '	_ "github.com/coredns/coredns/core/dnsserver"'
    echo '	"github.com/coredns/coredns/coremain"'
    for p in $plugins; do echo "	_ \"github.com/coredns/coredns/plugin/$p\""; done
    echo ')'
    echo
    echo 'func main() { coremain.Run() }'
  } >main.go
  go get "github.com/coredns/coredns@$v" >/dev/null 2>&1 || go get "github.com/coredns/coredns@$v"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$dest/coredns" .
  ;;
local-path)
  GOBIN="$dest" go install -trimpath -ldflags "-s -w" "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION"
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
seaweedfs)
  # SeaweedFS's weed command.
  wrapper_build github.com/seaweedfs/seaweedfs "$SEAWEEDFS_REVISION" weed "$dest/weed" "-s -w"
  ;;
spark-operator)
  # spark-operator's controller.
  v="v$SPARK_OPERATOR_VERSION"
  wrapper_build github.com/kubeflow/spark-operator/v2 "$v" cmd/operator "$dest/spark-operator" \
    "-s -w -X k8s.io/component-base/version.gitVersion=$v"
  ;;
spark-operator-crds)
  # spark-operator's SparkApplication and SparkConnect CRDs, from its module's source (no
  # build): the local stack's kube-apiserver gets the first, so the demo's local runner can play
  # spark-operator; the kind tier's spark-operator gets the second.
  info=$(go mod download -json "github.com/kubeflow/spark-operator/v2@v$SPARK_OPERATOR_VERSION")
  dir=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' <<<"$info")
  [ -n "$dir" ] || { echo "go mod download named no folder: $info" >&2; exit 1; }
  install -m 644 "$dir/config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml" \
    "$dir/config/crd/bases/sparkoperator.k8s.io_sparkconnects.yaml" "$dest/"
  ;;
skaffold)
  # skaffold, with its release build's tags and version.
  m=github.com/GoogleContainerTools/skaffold/v2 v="v$SKAFFOLD_VERSION"
  wrapper_build "$m" "$v" cmd/skaffold "$dest/skaffold" "-s -w -X $m/pkg/skaffold/version.version=$v" \
    "osusergo netgo release"
  ;;
helm-docs)
  GOBIN="$dest" go install -trimpath -ldflags "-s -w -X main.version=$HELM_DOCS_VERSION" "github.com/norwoodj/helm-docs/cmd/helm-docs@v$HELM_DOCS_VERSION"
  ;;
*) echo "unknown tool $tool" >&2; exit 2 ;;
esac
