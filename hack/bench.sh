#!/usr/bin/env bash
# Runs the benchmarks and writes their Markdown tables to bench/results/.
# Each benchmark measures its baseline in the same run and reports ratios.
# BENCH_ONLY="publish dedup" runs only the named benchmarks (names as in bench/results/).
# Quick sizes by default; BENCH_FULL=1 runs the full sizes (1,000 nodes x 50,000 digests,
# 100 MB and 1 GB layers, a 1 GB image, a 1 GiB image on the real test cluster), which take much
# longer. Figures for the plots go to bench/results/*.csv and the plots to bench/results/*.png.
# Run as root: the publish benchmark mounts and the pod-start benchmark starts the real test
# cluster (each in a private mount namespace, so nothing reaches the host's mount table); the
# cluster needs `make controlplane` (the Makefile's bench target runs it).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
out="$repo/bench/results"
mkdir -p "$out"
cache="${LAYERNS_CACHE:-$repo/.cache}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
mode=quick
suffix=
# Full-size tables go next to the quick ones instead of replacing them.
[[ "${BENCH_FULL:-0}" == 1 ]] && mode=full && suffix=-full
started=$(date +%s)

echo "bench: building (tests skipped), $mode mode"
# package, not install: the benchmarks run from target/, so nothing goes into the shared ~/.m2,
# and one reactor build resolves every module's classpath against its fresh target/.
mvn -B -ntp -q -DskipTests -DskipITs package dependency:build-classpath \
  -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test
placement_cp="operator/target/classes:operator/target/test-classes:$(cat operator/target/bench.classpath)"
bench_cp="src/test/target/test-classes:$(cat src/test/target/bench.classpath)"
jvm=(-Dlayerns.cache="$cache" -Dlayerns.repo="$repo" -Dbench.full="$([[ $mode == full ]] && echo true || echo false)"
  --enable-native-access=ALL-UNNAMED
  # logback prints its own status to stdout when it finds logback-test.xml twice on the classpath
  # (src/test and the csi-driver test-jar); stdout is the table.
  -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener)

# Runs one benchmark main and writes its table to bench/results/<name>.md; with launcher set
# (an array), the JVM runs under it.
launcher=()
run() {
  local name="$1" title="$2" heap="$3" cp="$4" class="$5" sizes="${6:-$mode mode}"
  if [[ -n "${BENCH_ONLY:-}" && " $BENCH_ONLY " != *" $name "* ]]; then
    echo "bench: $title: skipped (BENCH_ONLY=$BENCH_ONLY)"
    return
  fi
  echo "bench: $title"
  {
    echo "## $title"
    echo
    echo "\`$class\`, $sizes."
    echo
    "${launcher[@]}" "$java" "-Xmx$heap" "${jvm[@]}" -cp "$cp" "$class"
  } | tee "$out/$name$suffix.md"
  echo "bench: wrote $out/$name$suffix.md"
}

run placement "Placement decision, 1,000 nodes x 50,000 layers (pure function)" 2g \
  "$placement_cp" io.layerns.operator.placement.PlacementBenchmark "always full size"
run operator-scale "Operator at scale on a real control plane" "$([[ $mode == full ]] && echo 8g || echo 3g)" \
  "$bench_cp" io.layerns.bench.OperatorScaleBenchmark
run dedup "Storage before and after dedup" 3g "$bench_cp" io.layerns.bench.DedupStorageBenchmark
run unpack "Unpack and sha256 throughput against GNU tar and sha256sum" 2g \
  "$bench_cp" io.layerns.bench.UnpackBenchmark
# The publish and SFTP read benchmarks mount overlays and sshfs: as root, in a mount namespace of
# their own whose mounts vanish with it, as the system ITs run (src/test/jvm/bin/java).
benches=(operator-scale dedup unpack)
if [[ "$(id -u)" == 0 ]]; then
  launcher=(unshare -m --propagation private)
  run publish "Publish from peers against pull, time to a ready volume" 2g \
    "$bench_cp" io.layerns.bench.PublishBenchmark
  run sftp-read "Reading a layer in full through sshfs: SFTP settings before and now" 1g \
    "$bench_cp" io.layerns.bench.SftpReadBenchmark "100 MiB, every mode"
  # Drops the page cache between runs (root), so both the volume and the scrub read the disk.
  run scrub "The scrub's read rate, and a volume read while it runs" 1g \
    "$bench_cp" io.layerns.bench.ScrubBenchmark \
    "$([[ $mode == full ]] && echo "a 1 GiB volume, 4 GiB of other copies" || echo "a 100 MiB volume, 1 GiB of other copies")"
  # The real test cluster runs the layerns image this checkout builds, as ClusterE2EIT does.
  if [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" cluster-pod-start "* \
        || " $BENCH_ONLY " == *" containerd-mirror "* ]]; then
    echo "bench: building the images the test cluster runs (target/image)"
    LAYERNS_CACHE="$cache" MVN="mvn -B -ntp" hack/build-image.sh
    LAYERNS_CACHE="$cache" hack/build-test-images.sh
  fi
  run cluster-pod-start "Pod start on a real cluster: layerns volume against containerd's pull" 1g \
    "$bench_cp" io.layerns.bench.ClusterPodStartBenchmark \
    "$([[ $mode == full ]] && echo "a 1 GiB image" || echo "a 256 MiB image (1 GiB with BENCH_FULL=1)")"
  run containerd-mirror "containerd's pull through the node's mirror from a peer, against the registry" 1g \
    "$bench_cp" io.layerns.bench.ContainerdMirrorBenchmark "a 1 GiB image, both modes"
  launcher=()
  benches+=(publish sftp-read scrub cluster-pod-start containerd-mirror)
else
  echo "bench: publish, SFTP read and real-cluster benchmarks skipped: they mount, which needs root"
fi
benches+=(placement)
"$java" -Djava.awt.headless=true -Dlayerns.repo="$repo" -cp "$bench_cp" io.layerns.bench.BenchPlots

elapsed=$(( $(date +%s) - started ))
if [[ -n "${BENCH_ONLY:-}" ]]; then
  echo "bench: ran $BENCH_ONLY only in $elapsed s; $out/summary$suffix.md left as it was"
  exit 0
fi
{
  echo "# layerns benchmarks"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB," \
    "$("$java" -version 2>&1 | head -1), $(uname -sr); $mode mode, $elapsed s in all."
  echo "Command: \`make bench\`$([[ $mode == full ]] && echo ' with `BENCH_FULL=1`') (hack/bench.sh)."
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared with"
  echo "other work, so absolute figures move between runs; each baseline ran in the same run,"
  echo "next to what it is compared with, so the ratios are the figures to read)."
  echo
  for name in "${benches[@]}"; do
    sed 's/^## /### /' "$out/$name$suffix.md"
    echo
  done
} > "$out/summary$suffix.md"
echo
cat "$out/summary$suffix.md"
echo "bench: wrote $out/summary$suffix.md in $elapsed s"
