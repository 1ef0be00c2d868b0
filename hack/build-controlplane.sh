#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl) and csi-sanity from their Go modules into $LAYERNS_CACHE/bin.
# A binary already present is reused; delete it (or the folder) to rebuild.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LAYERNS_CACHE:-$repo/.cache}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=mod

k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$repo/tools/controlplane/kubernetes/go.mod")"

build() { # build <module dir> <binary name> <package> [ldflags]
  local dir="$1" name="$2" pkg="$3" ldflags="${4:-}"
  if [[ -x "$bin/$name" ]]; then
    echo "controlplane: $name present in $bin"
    return
  fi
  echo "controlplane: building $name from $pkg (first build takes several minutes)"
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

[[ -n "$k8s_version" ]] || { echo "controlplane: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
version_flags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2)"
build "$repo/tools/controlplane/etcd" etcd go.etcd.io/etcd/server/v3
build "$repo/tools/controlplane/kubernetes" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$version_flags"
build "$repo/tools/controlplane/kubernetes" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$version_flags"
build "$repo/tools/controlplane/kubernetes" kubectl k8s.io/kubernetes/cmd/kubectl "$version_flags"
build "$repo/tools/csi-sanity" csi-sanity github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity
