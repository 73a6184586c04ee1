# The kind node image: Debian with systemd, containerd, runc, the CNI plugins, kubelet, kubeadm
# and kubectl of the pinned release. build/kind/images.sh builds it from a context it assembles
# (binaries built by make setup, files/ with the image names filled in), then imports the
# cluster's images into its containerd.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus libseccomp2 ca-certificates \
      iptables nftables conntrack iproute2 ethtool socat util-linux mount kmod procps \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && rm -f /etc/systemd/system/*.wants/getty* /lib/systemd/system/multi-user.target.wants/getty.target
COPY bin/ /usr/local/bin/
COPY kube/ /usr/bin/
COPY cni/ /opt/cni/bin/
COPY files/ /
RUN systemctl enable containerd.service kubelet.service \
 && systemctl set-default multi-user.target \
 && mkdir -p /var/lib/kubelet /etc/kubernetes/manifests /var/local-path-provisioner
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
