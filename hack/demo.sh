#!/usr/bin/env bash
# make demo: layerns on one Linux machine, as root, with nothing but the repo.
# A real three-node cluster (kubelets v1.35, each with its own containerd, in
# network namespaces of their own; see test-support's TestCluster), the layerns
# image built here with no registry or engine, installed with kubectl as the
# README tells an admin, and real pods; then the story an admin would see with
# kubectl. Everything started here is stopped on exit or Ctrl-C.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LAYERNS_CACHE:-$repo/.cache}"
bin="$cache/bin"
work="$(mktemp -d /tmp/layerns-demo.XXXXXX)"
steps=10
step_no=0
cluster_pid=""

step() {
  step_no=$((step_no + 1))
  local done=$((step_no * 30 / steps)) bar
  bar="$(printf '%*s' "$done" '' | tr ' ' '#')$(printf '%*s' $((30 - done)) '' | tr ' ' '.')"
  printf '\n\033[1m[%s] %2d/%d %s\033[0m\n' "$bar" "$step_no" "$steps" "$*"
}
say() { printf '    %s\n' "$*"; }
show() { printf '    $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # clean up as much as possible, whatever fails
  printf '\nstopping the cluster (its reaper kills every process it started)...\n'
  [ -n "$cluster_pid" ] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for <seconds> <description> <command...>
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "demo: timed out after ${limit}s waiting for $what" >&2
  return 1
}
kubectl() { "$bin/kubectl" "$@"; }
jpath() { "$bin/kubectl" get "$1" -o "jsonpath=$2"; }

step "build layerns and its image (Maven, tests skipped; the image with no registry or engine)"
mvn=(mvn -B -ntp -q -Dlayerns.cache="$cache")
"${mvn[@]}" -DskipTests -DskipITs install >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$repo/hack/build-image.sh" >>"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
# The cluster's own pause and busybox images (a fresh clone has none).
LAYERNS_CACHE="$cache" "$repo/hack/build-test-images.sh" >>"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
"${mvn[@]}" -pl test-support dependency:build-classpath -Dmdep.outputFile="$work/cp" >>"$work/build.log" 2>&1
say "$(cd "$repo/target/image" && ls ./*.tar | tr '\n' ' ')"

step "start a real cluster: control plane, registry, three nodes (kubelet + containerd each)"
"$JAVA_HOME/bin/java" -cp "$repo/test-support/target/classes:$(cat "$work/cp")" -Dlayerns.cache="$cache" \
  io.layerns.testing.cluster.TestClusterMain 3 layerns.local/pause:3.10 \
  "$repo"/target/image/{pause-3.10,busybox-1,layerns-0.1.0}.tar >"$work/cluster.log" 2>&1 &
cluster_pid=$!
wait_for 300 "the cluster" grep -q '^ready' "$work/cluster.log"
export KUBECONFIG
KUBECONFIG="$(awk '/^kubeconfig/ {print $2}' "$work/cluster.log")"
registry_local="$(awk '/^registry/ {print $2}' "$work/cluster.log")"
tree="$(awk '/^cgroup/ {print $2}' "$work/cluster.log")"
registry="10.77.0.1:5000" # the registry as the nodes see it, on the cluster network
show kubectl get nodes -o wide

step "install layerns as an admin would: kubectl apply -f crds/, then -k of manifests/"
show kubectl apply -f "$repo/crds"
# manifests/ plus this cluster's one need (its registry serves plain HTTP): hack/local-cluster/.
show kubectl apply -k "$repo/hack/local-cluster"
show kubectl -n layerns-system rollout status deployment/layerns-operator --timeout=180s
show kubectl -n layerns-system rollout status daemonset/layerns-node-plugin --timeout=180s
show kubectl -n layerns-system get pods -o wide

step "push a three-layer image built here to the cluster's registry"
image="$registry/demo/app:1.0"
(
  cd "$work"
  umoci init --layout oci >/dev/null
  umoci new --image oci:app >/dev/null
  layer() { # layer <script run in the rootfs>: one umoci layer on top of the image
    rm -rf bundle
    umoci unpack --rootless --image oci:app bundle >/dev/null
    (cd bundle/rootfs && eval "$1")
    umoci repack --image oci:app bundle >/dev/null
  }
  layer 'mkdir -p etc app && echo "layerns demo base" >etc/motd && echo "to be deleted" >etc/obsolete'
  layer 'head -c 8388608 /dev/urandom >app/data.bin'
  layer 'echo "hello from a layer this node never pulled" >app/hello.txt && rm etc/obsolete'
  skopeo copy -q --dest-tls-verify=false oci:oci:app "docker://$registry_local/demo/app:1.0"
)
layers="$(skopeo inspect --tls-verify=false --format '{{len .Layers}}' "docker://$registry_local/demo/app:1.0")"
say "pushed $image with $layers layers"

step "a LayerNamespace over the three nodes: replicas 1, Sshfs, preloading the image"
kubectl apply -f - >/dev/null <<EOF
apiVersion: layerns.io/v1alpha1
kind: LayerNamespace
metadata: {name: demo}
spec:
  replicas: 1
  transport: Sshfs
  evictionGracePeriodSeconds: 5
  nodeNotReadyTimeoutSeconds: 30
  preloadImages: ["$image"]
EOF
wait_for 180 "the image's $layers layers" bash -c "[ \"\$('$bin/kubectl' get lyr -o name | wc -l)\" -ge $layers ]"
wait_for 180 "the namespace to be Ready" kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].status}'=True lns/demo --timeout=1s
puller="$(kubectl get lst -o jsonpath='{range .items[?(@.spec.preloadImages)]}{.metadata.name}{end}')"
say "the operator gave the image to $puller, which pulled it from the registry:"
show kubectl get lns,lyr,lst

step "a pod on a node without the image mounts it as a CSI inline volume, from $puller"
for i in 1 2 3; do [ "node-$i" != "$puller" ] && empty="node-$i" && break; done
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: $empty}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: layerns.local/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'cat /image/app/hello.txt; ls /image/etc; test ! -e /image/etc/obsolete && echo "etc/obsolete is gone: the whiteout is applied"; exec sleep 3600']
    volumeMounts: [{name: image, mountPath: /image, readOnly: true}]
  volumes:
  - name: image
    csi:
      driver: csi.layerns.io
      readOnly: true
      volumeAttributes: {image: "$image"}
EOF
show kubectl wait --for=condition=Ready pod/reader --timeout=120s
show kubectl get pod reader -o wide
show kubectl logs reader
show kubectl get lyr
say "SAVED: what the nodes would store with a copy each of what they pulled or read ($empty reads"
say "the image from $puller), less what they store (docs/usage.md, The savings):"
show kubectl get lns

step "replicas 2: the stored bytes follow"
unique="$(jpath lns/demo '{.status.uniqueBytes}')"
kubectl patch lns demo --type=merge -p '{"spec":{"replicas":2}}' >/dev/null
wait_for 180 "stored bytes = 2 x unique" bash -c "[ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.storedBytes}')\" = $((2 * unique)) ]"
show kubectl get lns,lyr

step "the pod goes, and its references with it"
show kubectl delete pod reader --wait=true
wait_for 60 "the references to go" bash -c "! '$bin/kubectl' get lyr -o jsonpath='{.items[*].status.referenceCount}' | grep -q '[1-9]'"
show kubectl get lyr

step "a node is drained, powered off and deleted; the namespace heals"
leaving="$(jpath lyr '{.items[0].status.holders[0].node}')"
show kubectl drain "$leaving" --ignore-daemonsets --delete-emptydir-data --force --timeout=120s
# Power off: every process of the node (kubelet, containerd, containers) is in its cgroup subtree.
for _ in $(seq 50); do
  p="$(find "/sys/fs/cgroup/pids/$tree/$leaving" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"
  [ -z "$p" ] && break
  kill -9 $p 2>/dev/null || true
  sleep 0.2
done
show kubectl delete node "$leaving"
wait_for 180 "the namespace to heal" bash -c "[ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.nodeCount}')\" = 2 ] && [ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.storedBytes}')\" = $((2 * unique)) ] && [ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.lostLayers}')\" = 0 ]"
show kubectl get lns,lyr,lst
show kubectl get events -n default --field-selector involvedObject.kind=LayerNamespace -o custom-columns=REASON:.reason,MESSAGE:.message

step "done"
say "every layer kept at 2 copies on the 2 remaining nodes, none lost"
