#!/usr/bin/env bash
# Builds the two small images the test cluster runs besides layerns, with no
# registry and no container engine (the cluster cannot pull from registry.k8s.io
# or Docker Hub):
#   target/image/pause-3.10.tar   layerns.local/pause:3.10, containerd's sandbox image:
#                                 tools/pause, a static Go program of our own
#   target/image/busybox-1.tar    layerns.local/busybox:1, Debian's busybox-static
#                                 with a link for each applet (sh, sha256sum, find, ...)
# Both are docker-archives for `ctr images import`.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/target/image"
work="$out/test-images"
epoch="$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

for tool in go umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "test-images: $tool is missing (make deps)" >&2; exit 1; }
done
[[ -x /bin/busybox ]] && /bin/busybox --list >/dev/null ||
  { echo "test-images: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }

# pack <rootfs> <name:tag> <archive> <umoci config flags...>: a one-layer image.
pack() {
  local rootfs="$1" name="$2" archive="$3" oci="$work/oci"
  shift 3
  find "$rootfs" -exec touch -h -d "@$epoch" {} +
  rm -rf "$oci"
  umoci init --layout "$oci"
  umoci new --image "$oci:img"
  umoci insert --image "$oci:img" --history.created="$created" --history.created_by="hack/build-test-images.sh" "$rootfs" /
  umoci config --image "$oci:img" --no-history --created="$created" "$@"
  rm -f "$archive"
  skopeo copy --quiet "oci:$oci:img" "docker-archive:$archive:$name"
  rm -rf "$oci"
  echo "test-images: $name in $archive ($(du -k "$archive" | cut -f1) KiB)"
}

start=$SECONDS
rm -rf "$work"
mkdir -p "$work/pause" "$work/busybox/bin" "$work/busybox/etc" "$work/busybox/tmp"

(cd "$repo/tools/pause" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$work/pause/pause" .)
pack "$work/pause" layerns.local/pause:3.10 "$out/pause-3.10.tar" \
  --config.entrypoint=/pause --config.user=65535:65535

cp /bin/busybox "$work/busybox/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ "$applet" == busybox ]] || ln -s busybox "$work/busybox/bin/$applet"
done
chmod 1777 "$work/busybox/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$work/busybox/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/busybox/etc/group"
pack "$work/busybox" layerns.local/busybox:1 "$out/busybox-1.tar" \
  --config.env=PATH=/bin --config.cmd=sh

rm -rf "$work"
echo "test-images: built in $((SECONDS - start)) s"
