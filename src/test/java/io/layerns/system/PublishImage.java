package io.layerns.system;

import io.layerns.csi.store.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/**
 * A test image made of tar layers with exact entries (directories, files with modes, symlinks,
 * whiteouts, opaque markers), with its OCI config and manifest.
 */
public final class PublishImage {
  public static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
  public static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";

  /** Entry times are fixed so that a layer's digest depends on its entries only. */
  private static final java.nio.file.attribute.FileTime FIXED_MTIME =
      java.nio.file.attribute.FileTime.from(java.time.Instant.parse("2026-01-01T00:00:00Z"));

  /**
   * One tar entry: a directory, file (text, or binary: type {@code b}), symlink or whiteout marker
   * (an empty file).
   */
  record Entry(String path, char type, int mode, String content) {
    static Entry dir(String path, int mode) {
      return new Entry(path, 'd', mode, null);
    }

    static Entry file(String path, int mode, String content) {
      return new Entry(path, 'f', mode, content);
    }

    /** A file of arbitrary bytes, owned by root like every entry here. */
    static Entry binary(String path, int mode, byte[] content) {
      return new Entry(path, 'b', mode, new String(content, StandardCharsets.ISO_8859_1));
    }

    static Entry symlink(String path, String target) {
      return new Entry(path, 'l', 0777, target);
    }

    /** Hides {@code path} of the layers below (OCI: an empty {@code .wh.<name>} file). */
    static Entry whiteout(String path) {
      int slash = path.lastIndexOf('/');
      return new Entry(
          path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1), 'f', 0644, "");
    }

    /** Hides everything the layers below have in {@code dir} (OCI: {@code .wh..wh..opq}). */
    static Entry opaque(String dir) {
      return new Entry(dir + "/.wh..wh..opq", 'f', 0644, "");
    }
  }

  /** A layer's blob (gzip), its digest and the digest of its tar. */
  record Layer(byte[] blob, Digest digest, Digest diffId) {}

  final List<Layer> layers;
  final byte[] config;
  final byte[] manifest;

  PublishImage(List<List<Entry>> layerEntries) {
    this(layerEntries.stream().map(PublishImage::layer).toList(), true);
  }

  /** An image of layers already built, so that images can share a layer (the same bytes). */
  static PublishImage ofLayers(List<Layer> layers) {
    return new PublishImage(layers, true);
  }

  private PublishImage(List<Layer> layers, boolean built) {
    this.layers = List.copyOf(layers);
    List<LayerInfo> infos =
        layers.stream().map(l -> new LayerInfo(l.digest(), l.blob().length, l.diffId())).toList();
    this.config = config(infos);
    this.manifest = manifest(config, infos);
  }

  /** What an image's config and manifest say of one of its layers (gzip). */
  public record LayerInfo(Digest digest, long size, Digest diffId) {}

  /** The OCI config of a linux/amd64 image made of {@code layers}, bottom first. */
  public static byte[] config(List<LayerInfo> layers) {
    String diffIds =
        layers.stream().map(l -> "\"" + l.diffId() + "\"").collect(Collectors.joining(","));
    return ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
            + "\"diff_ids\":["
            + diffIds
            + "]}}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** The OCI manifest ({@link #MANIFEST_TYPE}) naming {@code config} and {@code layers}. */
  public static byte[] manifest(byte[] config, List<LayerInfo> layers) {
    String layerJson =
        layers.stream()
            .map(
                l ->
                    "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}"
                        .formatted(LAYER_TYPE, l.digest(), l.size()))
            .collect(Collectors.joining(","));
    return ("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
            + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%d},"
            + "\"layers\":[%s]}")
        .formatted(MANIFEST_TYPE, Digest.of(config), config.length, layerJson)
        .getBytes(StandardCharsets.UTF_8);
  }

  Digest manifestDigest() {
    return Digest.of(manifest);
  }

  /** The layer and config blobs by digest. */
  Map<Digest, byte[]> blobs() {
    Map<Digest, byte[]> out = new LinkedHashMap<>();
    for (Layer l : layers) {
      out.put(l.digest(), l.blob());
    }
    out.put(Digest.of(config), config);
    return out;
  }

  /** Writes a one-image OCI layout naming the manifest {@code tag}. */
  void writeLayout(Path dir, String tag) throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    for (byte[] b : blobs().values()) {
      Files.write(blobs.resolve(Digest.of(b).hex()), b);
    }
    Files.write(blobs.resolve(manifestDigest().hex()), manifest);
    Files.writeString(
        dir.resolve("index.json"),
        ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
                + "\"size\":%d,\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}]}")
            .formatted(MANIFEST_TYPE, manifestDigest(), manifest.length, tag));
  }

  /** A gzip layer of {@code entries}; the same entries always give the same bytes. */
  static Layer layer(List<Entry> entries) {
    try {
      ByteArrayOutputStream tar = new ByteArrayOutputStream();
      try (TarArchiveOutputStream out = new TarArchiveOutputStream(tar)) {
        out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        for (Entry e : entries) {
          TarArchiveEntry t =
              switch (e.type()) {
                case 'd' -> new TarArchiveEntry(e.path() + "/");
                case 'l' -> {
                  TarArchiveEntry l = new TarArchiveEntry(e.path(), TarArchiveEntry.LF_SYMLINK);
                  l.setLinkName(e.content());
                  yield l;
                }
                default -> new TarArchiveEntry(e.path());
              };
          t.setMode(e.mode());
          t.setModTime(FIXED_MTIME);
          byte[] content =
              switch (e.type()) {
                case 'f' -> e.content().getBytes(StandardCharsets.UTF_8);
                case 'b' -> e.content().getBytes(StandardCharsets.ISO_8859_1);
                default -> new byte[0];
              };
          t.setSize(content.length);
          out.putArchiveEntry(t);
          out.write(content);
          out.closeArchiveEntry();
        }
      }
      ByteArrayOutputStream gz = new ByteArrayOutputStream();
      try (GzipCompressorOutputStream out = new GzipCompressorOutputStream(gz)) {
        out.write(tar.toByteArray());
      }
      byte[] blob = gz.toByteArray();
      return new Layer(blob, Digest.of(blob), Digest.of(tar.toByteArray()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
