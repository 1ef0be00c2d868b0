#!/usr/bin/env bash
# Fails when any test was skipped in the last build: a test that needs root, a mount namespace or
# a tool must fail on a machine that lacks them, so no green run hides the real tests.
# Usage: hack/check-no-skips.sh [REPO]   (reads every module's surefire and failsafe reports;
# when REPO/target/test-started exists, which `make test` touches first, only reports written since)
set -euo pipefail
repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"

shopt -s nullglob
reports=("$repo"/*/target/surefire-reports/TEST-*.xml "$repo"/*/target/failsafe-reports/TEST-*.xml
  "$repo"/*/*/target/surefire-reports/TEST-*.xml "$repo"/*/*/target/failsafe-reports/TEST-*.xml)
marker="$repo/target/test-started"
if [ -e "$marker" ]; then
  fresh=()
  for report in "${reports[@]}"; do
    if [ "$report" -nt "$marker" ]; then fresh+=("$report"); fi
  done
  reports=("${fresh[@]}")
fi
if [ ${#reports[@]} -eq 0 ]; then
  echo "check-no-skips: no test reports under $repo; run the tests first" >&2
  exit 1
fi

skipped=0
for report in "${reports[@]}"; do
  # A skipped test case carries a <skipped message="..."/> element; print the case and why.
  while IFS= read -r line; do
    echo "check-no-skips: SKIPPED $line" >&2
    skipped=$((skipped + 1))
  done < <(python3 - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    s = case.find("skipped")
    if s is not None:
        print(f'{case.get("classname")}.{case.get("name")}: {s.get("message") or "no reason given"}')
PY
)
done

if [ "$skipped" -gt 0 ]; then
  echo "check-no-skips: $skipped test(s) skipped in ${#reports[@]} reports; every test must run here" >&2
  exit 1
fi
echo "check-no-skips: ${#reports[@]} reports, no test skipped"
