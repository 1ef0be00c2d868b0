#!/usr/bin/env bash
# Checks that the image `make image` built runs (as root): unpacks the OCI
# layout into a temporary folder and, in a chroot inside a private mount
# namespace (nothing stays mounted), starts both entry points and the node
# side's tools. Each check prints "check: ok <what>"; the first failure ends
# the script non-zero with what it saw. ImageIT runs it.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
oci="${1:-$repo/target/image/layerns-0.1.0-oci}"
tag=0.1.0
[[ -f "$oci/index.json" ]] || { echo "check: no image at $oci: run make image" >&2; exit 1; }

tmp="$(mktemp -d /tmp/layerns-check-image.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
umoci unpack --image "$oci:$tag" "$tmp/bundle" >/dev/null
root="$tmp/bundle/rootfs"
# The environment the image's config gives its processes, as a runtime sets it.
mapfile -t image_env < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$tmp/bundle/config.json")

# in_image <script>: runs the script in the image's root, with the environment of its config,
# and /proc, /sys and /dev mounted privately.
in_image() {
  unshare -m --propagation private sh -euc '
    root="$1"; script="$2"
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    shift 2
    exec chroot "$root" /usr/bin/env -i HOME=/root "$@" /bin/sh -c "$script"' \
    in_image "$root" "$1" "${image_env[@]}"
}

fail() {
  echo "check: FAILED $1" >&2
  [[ -z "${2:-}" ]] || printf '%s\n' "$2" >&2
  exit 1
}

# expect <what> <pattern> <script>: the script's output (stdout and stderr) must match.
expect() {
  local what="$1" pattern="$2" out
  out="$(in_image "$3" 2>&1)" || true
  grep -Eq "$pattern" <<<"$out" || fail "$what: expected /$pattern/" "$out"
  if grep -Eq 'NoClassDefFoundError|ClassNotFoundException|module .* not found|UnsatisfiedLinkError|No SLF4J providers' <<<"$out"; then
    fail "$what: the class path or the Java runtime is incomplete" "$out"
  fi
  echo "check: ok $what"
}

# The class path: /app/classpath.txt names exactly the jars in /app/lib, one version each.
diff <(cat "$root/app/classpath.txt") <(ls "$root/app/lib" | LC_ALL=C sort) >/dev/null ||
  fail "/app/classpath.txt lists the jars of /app/lib"
dups="$(sed -E 's/-[0-9][^-]*(-SNAPSHOT)?(-[a-z_0-9-]+)?\.jar$//' "$root/app/classpath.txt" | sort | uniq -d)"
[[ -z "$dups" ]] || fail "one version of each library in /app/lib" "$dups"
echo "check: ok /app/lib: $(wc -l < "$root/app/classpath.txt") jars, one version each, as /app/classpath.txt lists"

expect "java runs (Java 25)" 'version "25' 'java -version'
# The cold tier's S3 client (AWS SDK, URLConnection, XML protocol) loads and
# tells a bucket it cannot reach, naming it.
expect "the cold tier's S3 client says an unreachable bucket is unreachable" \
  'Unreachable: could not reach http://127.0.0.1:9 for bucket check-bucket' \
  'java -cp "/app/lib/*" io.layerns.csi.cold.BucketCheck http://127.0.0.1:9 check-bucket'
# Layer entries have UTF-8 names: a JVM in the POSIX locale cannot make them paths.
expect "file names are UTF-8 (sun.jnu.encoding)" 'sun.jnu.encoding = UTF-8' \
  'java -XshowSettings:properties -version'
modules="$(in_image 'java --list-modules')"
for module in $(sed -e 's/#.*//' "$repo/image/jre-modules.txt"); do
  grep -q "^$module@" <<<"$modules" || fail "the runtime has module $module" "$modules"
done
echo "check: ok the runtime has the modules of image/jre-modules.txt"
expect "sshfs" 'SSHFS version' 'sshfs --version'
expect "ssh" 'OpenSSH' 'ssh -V'
expect "fusermount3" 'fusermount3 version' 'fusermount3 --version'
expect "nfs-ganesha" 'NFS-Ganesha Release' 'ganesha.nfsd -v'
expect "mount.nfs4" 'mount.nfs4' 'ls /sbin/mount.nfs4'
expect "mount" 'mount from util-linux' 'mount --version'
expect "umount" 'umount from util-linux' 'umount --version'
expect "CA certificates" 'ca-certificates.crt' 'ls /etc/ssl/certs/ca-certificates.crt'

# The node plugin: starts with the image's class path, serves its CSI socket
# and /healthz (a free port on loopback; the chroot shares this machine's
# network), and stops on SIGTERM.
in_image '
  cd /app
  echo $$ > /tmp/plugin.pid
  exec java --enable-native-access=ALL-UNNAMED -cp "/app/lib/*" io.layerns.csi.CsiPluginMain \
    --node-name=check --csi-endpoint=unix:///tmp/csi.sock --registration-dir= \
    --state-dir=/tmp/state --image-dir=/tmp/images --agent=false \
    --export-address=127.0.0.1 --health-port=0' > "$root/tmp/plugin.log" 2>&1 &
started=$!
url=""
answer=""
for _ in $(seq 300); do
  # The log is JSON (slashes escaped): take the address and port.
  url="$(sed -n 's|.*health on http:[\\/]*\([0-9.]*:[0-9]*\).*|http://\1/healthz|p' "$root/tmp/plugin.log" | head -1)"
  if [[ -n "$url" && -S "$root/tmp/csi.sock" ]]; then
    answer="$(curl -s --max-time 5 -w ' %{http_code}' "$url" || true)"
    [[ "$answer" == *" 200" ]] && break
  fi
  kill -0 "$started" 2>/dev/null || break
  sleep 0.1
done
[[ -f "$root/tmp/plugin.pid" ]] && kill -TERM "$(cat "$root/tmp/plugin.pid")" 2>/dev/null || true
wait "$started" || true
[[ "$answer" == $'ok\n 200' ]] ||
  fail "node plugin serves its CSI socket and /healthz (got '$answer' from '$url')" "$(cat "$root/tmp/plugin.log")"
if grep -Eq 'NoClassDefFoundError|ClassNotFoundException|UnsatisfiedLinkError|No SLF4J providers' "$root/tmp/plugin.log"; then
  fail "node plugin: the class path or the Java runtime is incomplete" "$(cat "$root/tmp/plugin.log")"
fi
echo "check: ok node plugin starts, serves its CSI socket, /healthz answers 200 ok"

# The operator: its whole start-up runs up to the API server (reconcilers
# registered, informers started); with none to reach (a closed port) it fails
# there with fabric8's connection error, not with a missing class or module.
# (It fails in about 40 s: the client retries each request for 20 s.)
printf '%s\n' "apiVersion: v1" "kind: Config" \
  "clusters: [{name: none, cluster: {server: \"https://127.0.0.1:9\"}}]" \
  "users: [{name: none, user: {token: none}}]" \
  "contexts: [{name: none, context: {cluster: none, user: none}}]" "current-context: none" \
  > "$root/tmp/kubeconfig"
in_image '
  echo $$ > /tmp/operator.pid
  exec env KUBECONFIG=/tmp/kubeconfig java -cp "/app/lib/*" io.layerns.operator.LayernsOperator' \
  > "$root/tmp/operator.log" 2>&1 &
started=$!
for _ in $(seq 1200); do
  grep -q 'Exception in thread "main"' "$root/tmp/operator.log" && break
  kill -0 "$started" 2>/dev/null || break
  sleep 0.1
done
# It does not exit by itself after that error (a thread stays): stop it.
[[ -f "$root/tmp/operator.pid" ]] && kill -KILL "$(cat "$root/tmp/operator.pid")" 2>/dev/null || true
wait "$started" || true
log="$(grep -v '|-' "$root/tmp/operator.log")"
grep -q "Registered reconciler: 'layernamespace'" <<<"$log" &&
  grep -q 'Error starting operator' <<<"$log" &&
  grep -q 'java.net.ConnectException' <<<"$log" ||
  fail "operator starts and stops only for want of an API server" "$log"
if grep -Eq 'NoClassDefFoundError|ClassNotFoundException|UnsatisfiedLinkError|No SLF4J providers' <<<"$log"; then
  fail "operator: the class path or the Java runtime is incomplete" "$log"
fi
echo "check: ok operator starts and stops only for want of an API server"

# The test cluster's images, from the docker-archives next to the layout.
unpack_archive() { # unpack_archive <archive> <dir>: its root file system at <dir>/rootfs
  [[ -f "$1" ]] || fail "no $1: run make image"
  skopeo copy --quiet "docker-archive:$1" "oci:$tmp/archive-oci:x"
  umoci unpack --image "$tmp/archive-oci:x" "$2" >/dev/null
  rm -rf "$tmp/archive-oci"
}
images="$(dirname "$oci")"
unpack_archive "$images/busybox-1.tar" "$tmp/busybox"
out="$(chroot "$tmp/busybox/rootfs" /bin/sh -c 'printf layerns | sha256sum; ls / | xargs echo' 2>&1)" || true
[[ "$out" == "$(printf layerns | sha256sum)"$'\n'"bin etc tmp" ]] ||
  fail "busybox: sh, sha256sum, ls and xargs run" "$out"
echo "check: ok busybox: sh, sha256sum, ls and xargs run"
unpack_archive "$images/pause-3.10.tar" "$tmp/pause"
# As a sandbox's PID 1 in a PID namespace of its own; SIGTERM ends it with 0.
unshare --pid --fork "$tmp/pause/rootfs/pause" > "$tmp/pause.log" 2>&1 &
started=$!
pause=""
for _ in $(seq 50); do
  pause="$(pgrep -P "$started" || true)"
  [[ -n "$pause" ]] && break
  sleep 0.1
done
[[ -n "$pause" ]] || fail "pause starts" "$(cat "$tmp/pause.log")"
# Signal it once it catches SIGTERM (bit 15 of SigCgt), not before.
for _ in $(seq 50); do
  caught="$(awk '/^SigCgt:/ {print $2}' "/proc/$pause/status" 2>/dev/null || true)"
  [[ -n "$caught" ]] && (( 0x$caught & 0x4000 )) && break
  sleep 0.1
done
kill -TERM "$pause"
rc=0
wait "$started" || rc=$?
[[ $rc == 0 ]] || fail "pause exits 0 on SIGTERM (exit $rc)" "$(cat "$tmp/pause.log")"
echo "check: ok pause: runs as PID 1, exits 0 on SIGTERM"

echo "check: the image at $oci runs"
