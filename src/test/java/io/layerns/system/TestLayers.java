package io.layerns.system;

import io.layerns.csi.store.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/** Small gzip layers made by the tests, with their digest and diff ID. */
record TestLayers(byte[] blob, Digest digest, Digest diffId) {
  static final String GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

  /** A layer holding {@code files} (path to content) plus {@code randomBytes} of noise in /blob. */
  static TestLayers of(Map<String, String> files, int randomBytes, long seed) throws IOException {
    ByteArrayOutputStream tar = new ByteArrayOutputStream();
    try (var out = new TarArchiveOutputStream(tar)) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      for (var e : files.entrySet()) {
        put(out, e.getKey(), e.getValue().getBytes(StandardCharsets.UTF_8));
      }
      if (randomBytes > 0) {
        byte[] noise = new byte[randomBytes];
        new Random(seed).nextBytes(noise);
        put(out, "blob", noise);
      }
    }
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (var out = new GzipCompressorOutputStream(gz)) {
      out.write(tar.toByteArray());
    }
    byte[] blob = gz.toByteArray();
    return new TestLayers(blob, sha256(blob), sha256(tar.toByteArray()));
  }

  private static void put(TarArchiveOutputStream out, String name, byte[] content)
      throws IOException {
    TarArchiveEntry entry = new TarArchiveEntry(name);
    entry.setSize(content.length);
    entry.setMode(0644);
    out.putArchiveEntry(entry);
    out.write(content);
    out.closeArchiveEntry();
  }

  private static Digest sha256(byte[] bytes) {
    return Digest.of(bytes);
  }
}
