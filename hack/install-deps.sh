#!/usr/bin/env bash
# Installs the Debian packages that the tests and the demo use, once per machine.
set -euo pipefail

packages=(maven tar gzip zstd umoci sshfs fuse3 openssh-client nfs-ganesha nfs-ganesha-vfs libnfs-utils docker-registry skopeo openssl curl debootstrap busybox-static)
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
