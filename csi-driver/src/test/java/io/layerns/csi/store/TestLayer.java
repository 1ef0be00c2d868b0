package io.layerns.csi.store;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorOutputStream;

/**
 * A layer blob made by a test: its bytes, digest, diff ID and media type.
 *
 * @param blob the compressed (or not) bytes as a registry would serve them
 * @param tar the uncompressed tar
 */
record TestLayer(byte[] blob, byte[] tar, LayerCompression compression) {

  static TestLayer of(byte[] tar, LayerCompression compression) {
    return new TestLayer(compress(tar, compression), tar, compression);
  }

  Digest digest() {
    return Digest.of(blob);
  }

  Digest diffId() {
    return Digest.of(tar);
  }

  String mediaType() {
    return switch (compression) {
      case NONE -> "application/vnd.oci.image.layer.v1.tar";
      case GZIP -> "application/vnd.oci.image.layer.v1.tar+gzip";
      case ZSTD -> "application/vnd.oci.image.layer.v1.tar+zstd";
    };
  }

  /** The same layer with its blob cut to the first {@code bytes} bytes. */
  TestLayer truncated(int bytes) {
    return new TestLayer(Arrays.copyOf(blob, bytes), tar, compression);
  }

  static byte[] compress(byte[] tar, LayerCompression compression) {
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
