package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorOutputStream;

/**
 * A small image made by a test: layers (tars it builds, compressed as asked), config, manifest, and
 * the OCI layout or registry blobs that carry them.
 *
 * @param platform what the config and index entry say
 * @param layers lowest first
 * @param docker whether to use Docker schema 2 media types instead of OCI ones
 */
public record TestImage(Platform platform, List<TestImage.Layer> layers, boolean docker) {

  /** How a test layer's blob is compressed. */
  public enum Compression {
    NONE,
    GZIP,
    ZSTD
  }

  /**
   * A layer made from files.
   *
   * @param files path to content, all regular files (directories are made for them)
   */
  public record Layer(Map<String, String> files, Compression compression, byte[] tar, byte[] blob) {
    public static Layer of(Compression compression, Map<String, String> files) {
      byte[] tar = TestImage.tar(files);
      return new Layer(Map.copyOf(files), compression, tar, compress(tar, compression));
    }

    public Digest digest() {
      return Digest.of(blob);
    }

    public Digest diffId() {
      return Digest.of(tar);
    }

    String mediaType(boolean docker) {
      if (docker) {
        // Docker schema 2 has no zstd or uncompressed type; tools use OCI types for those.
        return compression == Compression.GZIP
            ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
            : ociType();
      }
      return ociType();
    }

    private String ociType() {
      return switch (compression) {
        case NONE -> "application/vnd.oci.image.layer.v1.tar";
        case GZIP -> "application/vnd.oci.image.layer.v1.tar+gzip";
        case ZSTD -> "application/vnd.oci.image.layer.v1.tar+zstd";
      };
    }
  }

  /** An image of three layers: gzip, zstd, uncompressed; the file contents name {@code tag}. */
  public static TestImage threeLayers(String tag, Platform platform) {
    return new TestImage(
        platform,
        List.of(
            Layer.of(
                Compression.GZIP,
                Map.of("etc/os-release", "ID=test-" + tag + "\n", "bin/hello", "hello " + tag)),
            Layer.of(
                Compression.ZSTD, Map.of("usr/share/doc/readme", "zstd layer of " + tag + "\n")),
            Layer.of(Compression.NONE, Map.of("app/" + platform.architecture(), "arch " + tag))),
        false);
  }

  public byte[] config() {
    String diffIds =
        layers.stream().map(l -> "\"" + l.diffId() + "\"").collect(Collectors.joining(","));
    return """
        {"architecture":"%s","os":"%s","config":{"Cmd":["/bin/hello"]},\
        "rootfs":{"type":"layers","diff_ids":[%s]}}"""
        .formatted(platform.architecture(), platform.os(), diffIds)
        .getBytes(StandardCharsets.UTF_8);
  }

  public String manifestMediaType() {
    return docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
  }

  public byte[] manifest() {
    byte[] config = config();
    String layerJson =
        layers.stream()
            .map(
                l ->
                    "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}"
                        .formatted(l.mediaType(docker), l.digest(), l.blob().length))
            .collect(Collectors.joining(","));
    return """
        {"schemaVersion":2,"mediaType":"%s",\
        "config":{"mediaType":"%s","digest":"%s","size":%d},"layers":[%s]}"""
        .formatted(
            manifestMediaType(),
            docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG,
            Digest.of(config),
            config.length,
            layerJson)
        .getBytes(StandardCharsets.UTF_8);
  }

  public Digest manifestDigest() {
    return Digest.of(manifest());
  }

  public Digest configDigest() {
    return Digest.of(config());
  }

  /** The config and layer blobs, by digest, in upload order. */
  public Map<Digest, byte[]> blobs() {
    Map<Digest, byte[]> blobs = new LinkedHashMap<>();
    for (Layer l : layers) {
      blobs.put(l.digest(), l.blob());
    }
    blobs.put(configDigest(), config());
    return blobs;
  }

  /** An OCI image index over {@code images}, each entry carrying its platform. */
  public static byte[] index(List<TestImage> images) {
    String entries =
        images.stream()
            .map(
                i ->
                    ("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d,"
                            + "\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"%s}}")
                        .formatted(
                            i.manifestMediaType(),
                            i.manifestDigest(),
                            i.manifest().length,
                            i.platform().os(),
                            i.platform().architecture(),
                            i.platform().variant() == null
                                ? ""
                                : ",\"variant\":\"" + i.platform().variant() + "\""))
            .collect(Collectors.joining(","));
    return ("{\"schemaVersion\":2,\"mediaType\":\""
            + MediaTypes.OCI_INDEX
            + "\",\"manifests\":["
            + entries
            + "]}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** Writes a one-image OCI layout whose index.json names the manifest {@code tag}. */
  public void writeLayout(Path dir, String tag) throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    for (byte[] b : blobs().values()) {
      Files.write(blobs.resolve(Digest.of(b).hex()), b);
    }
    byte[] manifest = manifest();
    Files.write(blobs.resolve(Digest.of(manifest).hex()), manifest);
    Files.writeString(
        dir.resolve("index.json"),
        """
        {"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%d,\
        "annotations":{"org.opencontainers.image.ref.name":"%s"}}]}"""
            .formatted(manifestMediaType(), Digest.of(manifest), manifest.length, tag));
  }

  static byte[] tar(Map<String, String> files) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes)) {
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        java.util.Set<String> dirs = new java.util.TreeSet<>();
        for (String path : files.keySet()) {
          for (int i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
            dirs.add(path.substring(0, i) + "/");
          }
        }
        for (String d : dirs) {
          TarArchiveEntry e = new TarArchiveEntry(d);
          e.setMode(040755);
          e.setLastModifiedTime(FileTime.from(Instant.parse("2024-05-01T12:00:00Z")));
          tar.putArchiveEntry(e);
          tar.closeArchiveEntry();
        }
        for (Map.Entry<String, String> f : new java.util.TreeMap<>(files).entrySet()) {
          byte[] content = f.getValue().getBytes(StandardCharsets.UTF_8);
          TarArchiveEntry e = new TarArchiveEntry(f.getKey());
          e.setMode(0100644);
          e.setSize(content.length);
          e.setLastModifiedTime(FileTime.from(Instant.parse("2024-05-01T12:00:00Z")));
          tar.putArchiveEntry(e);
          tar.write(content);
          tar.closeArchiveEntry();
        }
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] compress(byte[] tar, Compression compression) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      switch (compression) {
        case NONE -> out.write(tar);
        case GZIP -> {
          try (GzipCompressorOutputStream gz = new GzipCompressorOutputStream(out)) {
            gz.write(tar);
          }
        }
        case ZSTD -> {
          try (ZstdCompressorOutputStream zs = new ZstdCompressorOutputStream(out)) {
            zs.write(tar);
          }
        }
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
