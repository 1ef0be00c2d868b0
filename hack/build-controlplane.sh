#!/usr/bin/env bash
# Builds the test cluster from its Go modules into $LAYERNS_CACHE/bin: the
# control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl), the node side (kubelet, kube-proxy, containerd with its runc shim
# and ctr) and csi-sanity.
# A binary already present is reused; delete it (or the folder) to rebuild.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LAYERNS_CACHE:-$repo/.cache}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=mod

k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$repo/tools/controlplane/kubernetes/go.mod")"

build() { # build <module dir> <binary name> <package> [ldflags] [tags]
  local dir="$1" name="$2" pkg="$3" ldflags="${4:-}" tags="${5:-}"
  if [[ -x "$bin/$name" ]]; then
    echo "controlplane: $name present in $bin"
    return
  fi
  echo "controlplane: building $name from $pkg (first build takes several minutes)"
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

[[ -n "$k8s_version" ]] || { echo "controlplane: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
version_flags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2)"
build "$repo/tools/controlplane/etcd" etcd go.etcd.io/etcd/server/v3
build "$repo/tools/controlplane/kubernetes" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$version_flags"
build "$repo/tools/controlplane/kubernetes" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$version_flags"
build "$repo/tools/controlplane/kubernetes" kubectl k8s.io/kubernetes/cmd/kubectl "$version_flags"
build "$repo/tools/controlplane/kubernetes" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$version_flags"
build "$repo/tools/controlplane/kubernetes" kubelet k8s.io/kubernetes/cmd/kubelet "$version_flags"
build "$repo/tools/controlplane/kubernetes" kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$version_flags"
# containerd 2.x for the nodes (runc is Debian's); no btrfs snapshotter (no headers needed).
containerd_version="$(awk '$1 == "github.com/containerd/containerd/v2" {print $2; exit}' "$repo/tools/containerd/go.mod")"
containerd_flags="-X github.com/containerd/containerd/v2/version.Version=$containerd_version"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  build "$repo/tools/containerd" "$cmd" "github.com/containerd/containerd/v2/cmd/$cmd" "$containerd_flags" no_btrfs
done
build "$repo/tools/csi-sanity" csi-sanity github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity
