#!/usr/bin/env bash
# Builds the layerns:0.1.0 image with no registry and no container engine (as root, Debian):
#   base layer: a Debian bookworm minbase root (debootstrap) with the packages of
#               image/packages.txt and a jlink'ed Java runtime at /opt/java/openjdk;
#               cached under $LAYERNS_CACHE/image-base/<hash of its inputs>/
#   app layer:  /app/lib (the runtime class path) and /app/classpath.txt
# Outputs, under the repository root:
#   target/image/layerns-0.1.0-oci/   OCI layout, tag 0.1.0
#   target/image/layerns-0.1.0.tar    docker-archive, named layerns:0.1.0 (ctr images import);
#                                     skopeo writes the name in full, docker.io/library/layerns:0.1.0,
#                                     which is what the kubelet asks containerd for `layerns:0.1.0`
# The Dockerfile builds the same image with an engine; both take the package
# list, the Java modules and the class path from hack/image-parts.sh.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LAYERNS_CACHE:-$repo/.cache}"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
tag=0.1.0
name="layerns:$tag"
out="$repo/target/image"
oci="$out/layerns-$tag-oci"
archive="$out/layerns-$tag.tar"
suite=bookworm
# Bump when the base layer's recipe below changes, so cached bases are rebuilt.
base_recipe=1

log() { printf 'image: %s\n' "$*"; }
# step <description> <command...>: runs the command and logs its duration.
step() {
  local what="$1" start ms
  shift
  start=$(date +%s%N)
  log "$what ..."
  "$@"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  log "$what: $((ms / 1000)).$((ms % 1000 / 100)) s"
}

[[ $(id -u) == 0 ]] || { echo "image: run as root (debootstrap, chroot and unshare need it)" >&2; exit 1; }
for tool in debootstrap umoci skopeo unshare; do
  command -v "$tool" >/dev/null || { echo "image: $tool is missing (make deps)" >&2; exit 1; }
done
[[ -x "$JAVA_HOME/bin/jlink" ]] || { echo "image: no jlink in JAVA_HOME=$JAVA_HOME" >&2; exit 1; }

# The Debian mirror this machine uses (the first URIs of its deb822 sources),
# and the security archive if it lists one.
sources=/etc/apt/sources.list.d/debian.sources
mirror="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$sources" 2>/dev/null || true)"
security="$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$sources" 2>/dev/null || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

jdk_version="$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"/\1/p' "$JAVA_HOME/release")"
base_key="$( { echo "recipe $base_recipe $suite $mirror $security"; echo "jdk $jdk_version";
  "$repo/hack/image-parts.sh" packages; cat "$repo/image/jre-modules.txt"; } | sha256sum | cut -c1-16)"
base="$cache/image-base/$base_key"
# Fixed timestamps for the image's metadata and the app layer: the last commit's.
epoch="$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

# Runs a script in a chroot of $1 with /proc, /sys and /dev mounted in a private
# mount namespace: the mounts go with it, nothing stays mounted on the host.
in_root() {
  local root="$1" script="$2"
  unshare -m --propagation private sh -euc '
    root="$1"; script="$2"
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    chroot "$root" /bin/sh -euc "$script"' in_root "$root" "$script"
}

debootstrap_root() {
  # debootstrap mounts /proc and /sys in the new root while it works: in a
  # private mount namespace, an interrupted run leaves nothing mounted.
  unshare -m --propagation private \
    debootstrap --variant=minbase "$suite" "$1" "$mirror" > "$2/debootstrap.log" 2>&1 || {
    tail -20 "$2/debootstrap.log" >&2
    return 1
  }
}

install_packages() {
  local root="$1"
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [[ -z "$security" ]] || echo "deb $security $suite-security main"
  } > "$root/etc/apt/sources.list"
  cat /etc/resolv.conf > "$root/etc/resolv.conf"
  # No service starts inside the chroot; documentation stays out, as in Debian's slim images.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cat > "$root/etc/dpkg/dpkg.cfg.d/layerns-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  in_root "$root" "
    export DEBIAN_FRONTEND=noninteractive LC_ALL=C
    apt-get -q update
    apt-get -q install -y --no-install-recommends $("$repo/hack/image-parts.sh" packages | paste -sd' ')
    apt-get clean" > "$root/../packages.log" 2>&1 || {
    tail -30 "$root/../packages.log" >&2
    return 1
  }
  rm -f "$root/usr/sbin/policy-rc.d"
  : > "$root/etc/resolv.conf"
  # What debootstrap installed before the exclusions, and what apt and dpkg leave behind.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/var/log/dpkg.log \
    "$root"/var/log/bootstrap.log "$root"/var/cache/ldconfig/aux-cache "$root"/tmp/* "$root"/run/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # A container runtime mounts its own /dev.
  rm -rf "$root"/dev/*
  : > "$root/etc/machine-id"
}

link_jre() {
  "$repo/hack/image-parts.sh" jre "$1/opt/java/openjdk"
}

# The base image (OS + JRE) as an OCI layout with one layer, tag "base".
pack_base() {
  local dir="$1"
  umoci init --layout "$dir/oci"
  umoci new --image "$dir/oci:base"
  umoci insert --image "$dir/oci:base" --history.created="$created" \
    --history.created_by="debootstrap --variant=minbase $suite; apt-get install $("$repo/hack/image-parts.sh" packages | paste -sd' '); jlink" \
    "$dir/rootfs" /
}

build_base() {
  local tmp="$cache/image-base/.tmp-$base_key-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  step "debootstrap $suite (minbase) from $mirror" debootstrap_root "$tmp/rootfs" "$tmp"
  step "packages: $("$repo/hack/image-parts.sh" packages | paste -sd' ')" install_packages "$tmp/rootfs"
  step "jlink Java $jdk_version ($(grep -cv '^#' "$repo/image/jre-modules.txt") modules)" link_jre "$tmp/rootfs"
  step "pack the base layer" pack_base "$tmp"
  # Only the packed layout is kept: the app layer goes on top of it.
  rm -rf "$tmp/rootfs"
  rm -rf "$base"
  mv "$tmp" "$base"
  trap - EXIT
}

assemble_app() {
  local app="$out/app"
  rm -rf "$app"
  mkdir -p "$app"
  MVN="${MVN:-mvn -B -ntp}" "$repo/hack/image-parts.sh" classpath "$app"
  chmod -R a+rX "$app"
  find "$app" -exec touch -h -d "@$epoch" {} +
}

pack_image() {
  rm -rf "$oci"
  # Blobs are content-addressed and never rewritten: hard links to the cached base cost nothing.
  cp -al "$base/oci" "$oci"
  umoci tag --image "$oci:base" "$tag"
  umoci rm --image "$oci:base"
  umoci insert --image "$oci:$tag" --history.created="$created" \
    --history.created_by="hack/image-parts.sh classpath /app" "$out/app" /app
  umoci config --image "$oci:$tag" --no-history --created="$created" \
    --config.env=JAVA_HOME=/opt/java/openjdk \
    --config.env=LANG=C.UTF-8 \
    --config.env=PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir=/app \
    --config.cmd=java --config.cmd=-cp --config.cmd='/app/lib/*' \
    --config.cmd=io.layerns.operator.LayernsOperator
  umoci gc --layout "$oci"
  rm -f "$archive"
  skopeo copy --quiet "oci:$oci:$tag" "docker-archive:$archive:$name"
}

total=$(date +%s)
mkdir -p "$out"
if [[ -f "$base/oci/index.json" ]]; then
  log "base layer (Debian $suite, packages, Java $jdk_version) cached in $base"
else
  log "building the base layer into $base (a few minutes, once)"
  build_base
fi
step "class path into /app" assemble_app
step "pack $name" pack_image
log "built $name in $(( $(date +%s) - total )) s: $oci, $archive ($(du -m "$archive" | cut -f1) MB)"
