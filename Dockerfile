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
# The runtime class path: one Maven resolution over both components, with the
# parent's dependency management, so /app/lib holds one version of each
# library (copying each module's dependencies side by side would put two
# versions of a shared library on the class path). The module poms are left
# as they are; this throwaway pom only exists in the build stage.
RUN mkdir -p image-classpath && cat > image-classpath/pom.xml <<'POM'
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>io.layerns</groupId>
    <artifactId>layerns-parent</artifactId>
    <version>0.1.0-SNAPSHOT</version>
    <relativePath>../pom.xml</relativePath>
  </parent>
  <artifactId>layerns-image-classpath</artifactId>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.layerns</groupId>
      <artifactId>layerns-operator</artifactId>
      <version>${project.version}</version>
    </dependency>
    <dependency>
      <groupId>io.layerns</groupId>
      <artifactId>layerns-csi-driver</artifactId>
      <version>${project.version}</version>
    </dependency>
  </dependencies>
</project>
POM
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -ntp -f image-classpath/pom.xml \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/out/lib \
 && ls /out/lib | sort > /out/classpath.txt

# ---- runtime: Debian, for the node side's tools, with the Temurin 25 JRE
FROM eclipse-temurin:25-jre AS jre

FROM debian:bookworm-slim
# What the node plugin runs besides Java:
#   nfs-ganesha, nfs-ganesha-vfs  the Nfs transport's read-only export
#   nfs-common                    mount.nfs4 for the Nfs transport's client side
#   sshfs, fuse3, openssh-client  the Sshfs transport's client side (sshfs
#                                 runs ssh, only a Recommends of sshfs)
#   util-linux, mount             mount(8) and umount(8) for overlays and binds
#   ca-certificates               TLS to registries
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nfs-ganesha nfs-ganesha-vfs nfs-common sshfs fuse3 openssh-client \
      util-linux mount ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/opt/java/openjdk
ENV PATH=/opt/java/openjdk/bin:$PATH
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=build /out/lib/ /app/lib/
COPY --from=build /out/classpath.txt /app/classpath.txt
# No default user: the operator's Deployment sets 65532 (non-root, restricted
# Pod Security), the node plugin needs root. No ENTRYPOINT either: each
# manifest names its main class.
WORKDIR /app
CMD ["java", "-cp", "/app/lib/*", "io.layerns.operator.LayernsOperator"]
