# syntax=docker/dockerfile:1.7
#
# One image, layerns:0.1.0, with both entry points on one class path:
#   operator:    java -cp '/app/lib/*' io.layerns.operator.LayernsOperator
#   node plugin: java -cp '/app/lib/*' io.layerns.csi.CsiPluginMain --node-name=...
# The manifests choose the entry point (command) and the user: the operator
# runs as 65532 with a read-only root, the node plugin as privileged root.
#
#   docker build -t layerns:0.1.0 .        (or: podman build -t layerns:0.1.0 .)

# ---- build: compile and package the two components and what they run with
FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY . .
# Maven's repository lives in a BuildKit cache, not in a layer: a rebuild after
# a source change downloads nothing again, and the image carries none of it.
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -ntp -DskipTests -DskipITs -pl operator,csi-driver -am install
# The runtime class path (image/classpath/pom.xml: one version of each library)
# and the jlink'ed Java runtime (image/jre-modules.txt): the same script makes
# them for `make image`, which builds this image with no engine.
RUN --mount=type=cache,target=/root/.m2 \
    hack/image-parts.sh classpath /out \
 && hack/image-parts.sh jre /out/jre

# ---- runtime: Debian, for the node side's tools (image/packages.txt says
# what each is for), with the jlink'ed runtime
FROM debian:bookworm-slim
COPY image/packages.txt /tmp/packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' /tmp/packages.txt | xargs \
      env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt
ENV JAVA_HOME=/opt/java/openjdk
# Layer entries have UTF-8 names; in the POSIX locale the JVM cannot make them paths.
ENV LANG=C.UTF-8
ENV PATH=/opt/java/openjdk/bin:$PATH
COPY --from=build /out/jre /opt/java/openjdk
COPY --from=build /out/lib/ /app/lib/
COPY --from=build /out/classpath.txt /app/classpath.txt
# No default user: the operator's Deployment sets 65532 (non-root, restricted
# Pod Security), the node plugin needs root. No ENTRYPOINT either: each
# manifest names its main class.
WORKDIR /app
CMD ["java", "-cp", "/app/lib/*", "io.layerns.operator.LayernsOperator"]
