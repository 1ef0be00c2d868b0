#!/usr/bin/env bash
# Installs the Debian packages that the tests and the demo use, once per machine.
set -euo pipefail

packages=(maven tar gzip zstd umoci sshfs fuse3 openssh-client nfs-ganesha nfs-ganesha-vfs libnfs-utils docker-registry skopeo openssl curl
  # The real test cluster's nodes: runc under containerd, CNI plugins, kube-proxy's iptables,
  # namespaces and addresses, the loopback forwarders into the cluster network.
  runc containernetworking-plugins iptables conntrack iproute2 util-linux socat
  # Images built without a registry or an engine (make image, the test images).
  debootstrap busybox-static
  # htpasswd, for the test registry that asks for a password (private images).
  apache2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: run as root to install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi
command -v go >/dev/null || { echo "deps: Go is required to build the control plane" >&2; exit 1; }
