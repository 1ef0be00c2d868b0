#!/usr/bin/env bash
# make demo: layerns on one Linux machine, as root, with nothing but the repo.
# A real control plane, a local registry holding an image this script builds,
# the operator and three node plugins (127.0.1.1-3), then the story an admin
# would see with kubectl. Everything started here is stopped on exit or Ctrl-C.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LAYERNS_CACHE:-$repo/.cache}"
bin="$cache/bin"
work="$(mktemp -d /tmp/layerns-demo.XXXXXX)"
steps=11
step_no=0
pids=()

step() {
  step_no=$((step_no + 1))
  local done=$((step_no * 30 / steps)) bar
  bar="$(printf '%*s' "$done" '' | tr ' ' '#')$(printf '%*s' $((30 - done)) '' | tr ' ' '.')"
  printf '\n\033[1m[%s] %2d/%d %s\033[0m\n' "$bar" "$step_no" "$steps" "$*"
}
say() { printf '    %s\n' "$*"; }
show() { printf '    $ %s\n' "$*" | sed 's/^    \$ csi_client/    $ csi-client/'; "$@" 2>&1 | sed 's/^/    /'; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # clean up as much as possible, whatever fails
  printf '\nstopping everything the demo started...\n'
  # Volumes first, so no mount outlives the demo; then the processes.
  awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pkill -f "ganesha.nfsd.*$work" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for <seconds> <description> <command...>
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "demo: timed out after ${limit}s waiting for $what" >&2
  return 1
}

step "build layerns and the classpaths (Maven, tests skipped)"
mvn=(mvn -B -ntp -q -Dlayerns.cache="$cache")
"${mvn[@]}" -DskipTests -DskipITs install >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
for m in test-support operator csi-driver; do
  "${mvn[@]}" -pl "$m" dependency:build-classpath -Dmdep.outputFile="$work/$m.cp" >>"$work/build.log" 2>&1
done
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)
cp_of() { echo "$repo/$1/target/classes:$(cat "$work/$1.cp")"; }
# The CSI calls a kubelet would make, from the shell; warnings only on the terminal.
cat >"$work/quiet.xml" <<'EOF'
<configuration>
  <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender"><target>System.err</target>
    <encoder><pattern>%msg%n</pattern></encoder></appender>
  <logger name="io.grpc.netty" level="ERROR"/>
  <logger name="io.netty" level="ERROR"/>
  <root level="WARN"><appender-ref ref="ERR"/></root>
</configuration>
EOF
csi_client() { "${java[@]}" -Dlogback.configurationFile="$work/quiet.xml" -cp "$(cp_of csi-driver)" io.layerns.csi.tools.CsiClient "$@"; }
say "done"

step "start a real control plane (etcd, kube-apiserver, kube-controller-manager)"
"${java[@]}" -cp "$(cp_of test-support)" -Dlayerns.cache="$cache" io.layerns.testing.ControlPlaneMain "$repo/crds" \
  >"$work/controlplane.log" 2>&1 &
pids+=($!)
wait_for 120 "the control plane" grep -q '^ready' "$work/controlplane.log"
export KUBECONFIG
KUBECONFIG="$(awk '/^kubeconfig/ {print $2}' "$work/controlplane.log")"
kubectl() { "$bin/kubectl" "$@"; }
show kubectl get crd -l '!nothing' -o custom-columns=CRD:.metadata.name

step "start a local registry and push a three-layer image built here"
regport="$(free_port)"
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$regport, secret: demo}
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_for 30 "the registry" curl -sf "http://127.0.0.1:$regport/v2/"
image="127.0.0.1:$regport/demo/app:1.0"
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
  skopeo copy -q --dest-tls-verify=false oci:oci:app "docker://$image"
)
layers="$(skopeo inspect --tls-verify=false --format '{{len .Layers}}' "docker://$image")"
say "pushed $image with $layers layers:"
show skopeo inspect --tls-verify=false --format '{{range .Layers}}{{println .}}{{end}}' "docker://$image"

step "start the operator"
opport="$(free_port)"
KUBECONFIG="$KUBECONFIG" POD_NAMESPACE=default LEADER_ELECTION=false HTTP_PORT="$opport" \
  "${java[@]}" -cp "$(cp_of operator)" io.layerns.operator.LayernsOperator >"$work/operator.log" 2>&1 &
pids+=($!)
wait_for 60 "the operator's /readyz" curl -sf "http://127.0.0.1:$opport/readyz"
say "ready; metrics on http://127.0.0.1:$opport/metrics"

step "three nodes, each with a node plugin on 127.0.1.1-3"
wait_for 60 "the SFTP key Secret" kubectl get secret layerns-sftp-key
mkdir -p "$work/sftp"
for f in authorized_keys id_ecdsa; do
  kubectl get secret layerns-sftp-key -o "jsonpath={.data.${f}}" | base64 -d >"$work/sftp/$f"
done
chmod 600 "$work/sftp/id_ecdsa"
for i in 1 2 3; do
  node="node-$i"
  kubectl create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: $node, labels: {layerns.io/pool: demo}}
EOF
  kubectl patch node "$node" --subresource=status --type=merge \
    -p "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"demo\",\"lastHeartbeatTime\":\"$(date -u +%FT%TZ)\",\"lastTransitionTime\":\"$(date -u +%FT%TZ)\"}]}}" >/dev/null
  mkdir -p "$work/$node"
  KUBECONFIG="$KUBECONFIG" "${java[@]}" -cp "$(cp_of csi-driver)" io.layerns.csi.CsiPluginMain \
    --node-name="$node" --csi-endpoint="unix://$work/$node/csi.sock" --registration-dir= \
    --state-dir="$work/$node/state" --image-dir="$work/$node/images" --store-root="$work/$node/store" \
    --export-address="127.0.1.$i" --http-export-port=0 --sftp-export-port=0 \
    --sftp-authorized-keys="$work/sftp/authorized_keys" >"$work/$node.log" 2>&1 &
  pids+=($!)
  eval "pid_$i=$!"
done
show kubectl get nodes -L layerns.io/pool

step "a LayerNamespace over the three nodes: replicas 1, Sshfs, preloading the image"
kubectl apply -f - >/dev/null <<EOF
apiVersion: layerns.io/v1alpha1
kind: LayerNamespace
metadata: {name: demo}
spec:
  nodeSelector: {layerns.io/pool: demo}
  replicas: 1
  transport: Sshfs
  evictionGracePeriodSeconds: 0
  preloadImages: ["$image"]
EOF
wait_for 120 "the image's $layers layers" bash -c "[ \"\$('$bin/kubectl' get lyr -o name | wc -l)\" -ge $layers ]"
wait_for 120 "the namespace to be Ready" kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].status}'=True lns/demo --timeout=1s
puller="$(kubectl get lst -o jsonpath='{range .items[?(@.spec.preloadImages)]}{.metadata.name}{end}')"
say "the operator gave the image to $puller, which pulled it from the registry:"
show kubectl get lns,lyr,lst

step "publish the image on a node that does not hold it, and read a file through it"
for i in 1 2 3; do [ "node-$i" != "$puller" ] && empty="node-$i" && break; done
target="$work/$empty/pods/demo/volumes/app"
mkdir -p "$target"
show csi_client publish \
  --endpoint="$work/$empty/csi.sock" --volume-id=demo-vol --target="$target" --image="$image" --pod=default/demo
show cat "$target/app/hello.txt"
show ls -l "$target/etc"
say "/etc/obsolete is gone: the top layer's whiteout is applied"
show bash -c "grep ' $target ' /proc/self/mountinfo | awk '{print \$9, \$5}'; grep fuse.sshfs /proc/self/mountinfo | awk '{print \$9, \$10}' | sort -u"
show kubectl get lst "$empty" -o jsonpath='{range .status.volumes[*]}{.volumeId}{" reads "}{.layers[*].digest}{"\n"}{end}'

step "replicas 2: the stored bytes follow"
unique="$(kubectl get lns demo -o jsonpath='{.status.uniqueBytes}')"
kubectl patch lns demo --type=merge -p '{"spec":{"replicas":2}}' >/dev/null
wait_for 120 "stored bytes = 2 x unique" bash -c "[ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.storedBytes}')\" = $((2 * unique)) ]"
show kubectl get lns,lyr

step "unpublish the volume"
show csi_client unpublish \
  --endpoint="$work/$empty/csi.sock" --volume-id=demo-vol --target="$target"
if grep -q " $target " /proc/self/mountinfo; then echo "demo: $target is still mounted" >&2; exit 1; fi
say "no mount left at $target"

step "node-3 leaves the cluster: its agent stops and its Node is deleted"
kill "$pid_3"
kubectl delete node node-3 >/dev/null
wait_for 120 "node-3 to leave the namespace" bash -c "[ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.nodeCount}')\" = 2 ]"
wait_for 120 "the namespace to heal" bash -c "[ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.storedBytes}')\" = $((2 * unique)) ] && [ \"\$('$bin/kubectl' get lns demo -o jsonpath='{.status.lostLayers}')\" = 0 ]"
show kubectl get lns,lyr,lst
show kubectl get events -n default --field-selector involvedObject.kind=LayerNamespace -o custom-columns=REASON:.reason,MESSAGE:.message

step "done"
say "every layer kept at 2 copies on the 2 remaining nodes, none lost"
