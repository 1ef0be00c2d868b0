#!/usr/bin/env bash
# The parts of the layerns image that the Dockerfile and hack/build-image.sh
# share, so the two cannot drift:
#   image-parts.sh packages          the Debian packages (image/packages.txt), one a line
#   image-parts.sh classpath OUT     OUT/lib (the runtime class path) and OUT/classpath.txt
#   image-parts.sh jre OUT           a jlink'ed runtime of image/jre-modules.txt at OUT
# classpath needs this checkout's jars built (mvn -DskipTests -DskipITs install, or
# `make build`) and takes MVN from the environment (default: mvn -B -ntp).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"

# A list file's entries: comments and blank lines dropped.
entries() {
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$1"
}

case "${1:-}" in
  packages)
    entries "$repo/image/packages.txt"
    ;;
  classpath)
    out="${2:?usage: image-parts.sh classpath OUT}"
    rm -rf "$out/lib"
    mkdir -p "$out/lib"
    # One resolution over both components (image/classpath/pom.xml), from the
    # local repository; the project's own jars then come from this checkout's
    # target/ folders, so the image holds what was built here.
    # Jar names carry their group: two libraries may share an artifact id (the AWS SDK's
    # `annotations` and Android's, which gRPC brings), and /app/lib must hold both.
    if ! ${MVN:-mvn -B -ntp} -q -f "$repo/image/classpath/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -Dmdep.prependGroupId=true -DoutputDirectory="$out/lib" \
        > "$out/maven.log" 2>&1; then
      grep -v '^WARNING' "$out/maven.log" | tail -30 >&2
      echo "image-parts: could not resolve the class path; build and install the jars first (make build)" >&2
      exit 1
    fi
    rm -f "$out/maven.log"
    for jar in "$out"/lib/io.layerns.layerns-*.jar; do
      built=""
      for candidate in "$repo"/*/target/"$(basename "$jar" | sed 's/^io\.layerns\.//')"; do
        [[ -f "$candidate" ]] && built="$candidate" && break
      done
      if [[ -z "$built" ]]; then
        echo "image-parts: $(basename "$jar") is not built in this checkout (make build)" >&2
        exit 1
      fi
      cp "$built" "$jar"
    done
    (cd "$out/lib" && ls | LC_ALL=C sort) > "$out/classpath.txt"
    ;;
  jre)
    out="${2:?usage: image-parts.sh jre OUT}"
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    jlink="${JAVA_HOME:+$JAVA_HOME/bin/}jlink"
    "$jlink" --add-modules "$(entries "$repo/image/jre-modules.txt" | paste -sd,)" \
      --strip-debug --no-man-pages --no-header-files --compress=zip-6 --output "$out"
    ;;
  *)
    echo "usage: image-parts.sh packages | classpath OUT | jre OUT" >&2
    exit 2
    ;;
esac
