#!/usr/bin/env bash
# Runs the benchmarks and writes their Markdown tables to bench/results/.
# Each benchmark measures its baseline in the same run and reports ratios.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
out="$repo/bench/results"
mkdir -p "$out"
mvn=(mvn -B -ntp -q)

echo "bench: building (tests skipped)"
"${mvn[@]}" -DskipTests -DskipITs install
"${mvn[@]}" -pl operator dependency:build-classpath -Dmdep.outputFile="$repo/operator/target/bench.classpath" -Dmdep.includeScope=test
cp="operator/target/classes:operator/target/test-classes:$(cat operator/target/bench.classpath)"

echo "bench: placement, 1,000 nodes x 50,000 layers"
{
  echo "# Placement benchmark"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(java -version 2>&1 | head -1)."
  echo "Command: \`make bench\` (io.layerns.operator.placement.PlacementBenchmark)."
  echo
  java -Xmx2g -cp "$cp" io.layerns.operator.placement.PlacementBenchmark
} | tee "$out/placement.md"
echo "bench: wrote $out/placement.md"
