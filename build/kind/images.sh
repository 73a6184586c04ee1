#!/usr/bin/env bash
# Builds the kind node image and every image its cluster runs, with no registry: a Debian base
# made by debootstrap from Debian's packages, the programs make setup built from the Go module
# proxy (and pause from the release's C source), and Debian's packages inside the images.
# Saves them as archives in OUT_DIR, which a fresh engine takes by `docker load`:
#   debian-base.tar   the local Debian base ($BASE_IMAGE)
#   node.tar          the node image ($NODE_IMAGE), whose containerd already holds the images
#                     kubeadm names (control plane, etcd, CoreDNS, pause, kube-proxy), the
#                     storage provisioner and the base (the provisioner's helper pods run it)
# Usage: build/kind/images.sh OUT_DIR, with DOCKER_HOST naming an engine, versions.env sourced,
# and BASE_IMAGE, NODE_IMAGE and the binary folders (K8S_DIR, K8S_NODE_DIR, ETCD_DIR,
# CONTAINERD_DIR, RUNC_DIR, CNI_DIR, COREDNS_DIR, LOCAL_PATH_DIR) in the environment.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
work="$SMARTWATCH_CACHE/build/kind-images"
export DOCKER_BUILDKIT=0
rm -rf "$work" "$out.partial" && mkdir -p "$work" "$out.partial"

# --- the Debian base ---------------------------------------------------------------------------
rootfs="$work/rootfs"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/log/*.log
# Slim: no documentation or translations now or from later installs, no download caches.
install -m 0644 "$here/base/dpkg-slim" "$rootfs/etc/dpkg/dpkg.cfg.d/slim"
install -m 0644 "$here/base/apt-clean" "$rootfs/etc/apt/apt.conf.d/docker-clean"
find "$rootfs"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs"/usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/lintian/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$BASE_IMAGE"
rm -rf "$rootfs"

# --- the images kubeadm names, checked against the pinned versions ------------------------------
kube_version="v$KUBERNETES_VERSION"
mapfile -t wanted < <("$K8S_NODE_DIR/kubeadm" config images list --kubernetes-version "$kube_version")
image_for() { # image_for NAME: the reference kubeadm uses for the image named NAME
  local ref; for ref in "${wanted[@]}"; do
    case "${ref%:*}" in */"$1") echo "$ref"; return;; esac
  done
  echo "kubeadm $kube_version names no image $1" >&2; return 1
}
check_tag() { # check_tag REF PINNED: the tag kubeadm wants is the pinned version
  case "${1##*:}" in "$2"|"$2"-*) ;; *)
    echo "kubeadm $kube_version wants ${1}, but versions.env pins $2" >&2; return 1;; esac
}
check_tag "$(image_for etcd)" "$ETCD_VERSION"
check_tag "$(image_for coredns)" "v$COREDNS_VERSION"
pause_image=$(image_for pause)
check_tag "$pause_image" "$("$K8S_NODE_DIR/pause" -v 2>&1 | sed -n 's/.*pause\.c v\([0-9.]*\).*/\1/p')"

# scratch_image REF BINARY ENTRYPOINT_JSON: an image of one static binary in /usr/local/bin.
scratch_image() {
  local ref=$1 bin=$2 entry=$3 ctx
  ctx="$work/ctx-$(basename "$bin")"
  mkdir -p "$ctx" && cp "$bin" "$ctx/"
  printf 'FROM scratch\nCOPY %s /usr/local/bin/\nENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT %s\n' \
    "$(basename "$bin")" "$entry" >"$ctx/Dockerfile"
  docker build -q -t "$ref" "$ctx" >/dev/null
}
scratch_image "$(image_for kube-apiserver)" "$K8S_DIR/kube-apiserver" '[]'
scratch_image "$(image_for kube-controller-manager)" "$K8S_NODE_DIR/kube-controller-manager" '[]'
scratch_image "$(image_for kube-scheduler)" "$K8S_NODE_DIR/kube-scheduler" '[]'
scratch_image "$(image_for etcd)" "$ETCD_DIR/etcd" '[]'
scratch_image "$(image_for coredns)" "$COREDNS_DIR/coredns" '["/usr/local/bin/coredns"]'
scratch_image "$pause_image" "$K8S_NODE_DIR/pause" '["/usr/local/bin/pause"]'
local_path_image="smartwatch/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION"
scratch_image "$local_path_image" "$LOCAL_PATH_DIR/local-path-provisioner" '[]'
# kube-proxy programs the node's iptables, so its image carries Debian's iptables.
ctx="$work/ctx-kube-proxy" && mkdir -p "$ctx" && cp "$K8S_NODE_DIR/kube-proxy" "$ctx/"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BASE_IMAGE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      iptables nftables conntrack ipset kmod && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/
DOCKERFILE
docker build -q --network host -t "$(image_for kube-proxy)" "$ctx" >/dev/null
cluster_images=("${wanted[@]}" "$local_path_image" "$BASE_IMAGE")
docker save -o "$work/cluster-images.tar" "${cluster_images[@]}"

# --- the node image ----------------------------------------------------------------------------
ctx="$work/ctx-node"
mkdir -p "$ctx/bin" "$ctx/kube" "$ctx/cni"
cp -a "$here/files" "$ctx/files"
cp "$CONTAINERD_DIR"/{containerd,ctr,containerd-shim-runc-v2} "$RUNC_DIR/runc" "$ctx/bin/"
cp "$K8S_NODE_DIR"/{kubelet,kubeadm} "$K8S_DIR/kubectl" "$ctx/kube/"
cp "$CNI_DIR"/{ptp,loopback,host-local,portmap} "$ctx/cni/"
sed -i "s#@PAUSE_IMAGE@#$pause_image#" "$ctx/files/etc/containerd/config.toml"
sed -i -e "s#@LOCAL_PATH_IMAGE@#$local_path_image#" -e "s#@HELPER_IMAGE@#$BASE_IMAGE#" \
  "$ctx/files/kind/manifests/default-storage.yaml"
echo "$kube_version" >"$ctx/files/kind/version"
docker build -q --network host --build-arg "BASE=$BASE_IMAGE" -f "$here/node.Dockerfile" \
  -t "$NODE_IMAGE-stage" "$ctx" >/dev/null

# The cluster's images go into the node's containerd as content only (no unpacked layers,
# which an image layer cannot hold); the kubelet's runtime unpacks them on first use.
builder="smartwatch-kind-build-$$"
docker run -d --name "$builder" --entrypoint /usr/local/bin/containerd "$NODE_IMAGE-stage" >/dev/null
trap 'docker rm -f "$builder" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 60); do docker exec "$builder" ctr version >/dev/null 2>&1 && break; sleep 1; done
docker exec -i "$builder" ctr -n k8s.io images import --no-unpack --all-platforms - <"$work/cluster-images.tar"
imported=$(docker exec "$builder" ctr -n k8s.io images ls -q)
for ref in "${cluster_images[@]}"; do
  grep -q "$ref\$" <<<"$imported" || { echo "image $ref missing from the node's containerd" >&2; exit 1; }
done
docker stop -t 30 "$builder" >/dev/null
docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
  "$builder" "$NODE_IMAGE" >/dev/null

docker save -o "$out.partial/debian-base.tar" "$BASE_IMAGE"
docker save -o "$out.partial/node.tar" "$NODE_IMAGE"
rm -rf "$work" "$out" && mv "$out.partial" "$out"
echo "kind images: $NODE_IMAGE and $BASE_IMAGE in $out ($(du -sh "$out" | cut -f1))"
