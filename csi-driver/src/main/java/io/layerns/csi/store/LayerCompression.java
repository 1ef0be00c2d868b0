package io.layerns.csi.store;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorInputStream;

/** How a layer blob is compressed, and the stream that undoes it. */
public enum LayerCompression {
  NONE,
  GZIP,
  ZSTD;

  private static final Map<String, LayerCompression> MEDIA_TYPES =
      Map.of(
          "application/vnd.oci.image.layer.v1.tar", NONE,
          "application/vnd.oci.image.layer.v1.tar+gzip", GZIP,
          "application/vnd.oci.image.layer.v1.tar+zstd", ZSTD,
          "application/vnd.oci.image.layer.nondistributable.v1.tar", NONE,
          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", GZIP,
          "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", ZSTD,
          "application/vnd.docker.image.rootfs.diff.tar.gzip", GZIP,
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", GZIP);

  /** Whether {@code mediaType} names a layer this store can unpack. */
  public static boolean isLayerMediaType(String mediaType) {
    return MEDIA_TYPES.containsKey(mediaType);
  }

  /** Bytes a detection needs to see. */
  static final int MAGIC_BYTES = 4;

  /**
   * Decides from the media type and the first bytes. The magic bytes win when the two disagree,
   * since some tools label uncompressed layers as gzip; the media type must still be a layer type,
   * so that encrypted or unknown layers are refused rather than misread.
   *
   * @param mediaType the descriptor's media type, or null when unknown
   * @throws IllegalArgumentException when the media type is not a layer this store can unpack
   */
  static LayerCompression detect(String mediaType, byte[] magic, int length) {
    if (mediaType != null && !MEDIA_TYPES.containsKey(mediaType)) {
      throw new IllegalArgumentException("unsupported layer media type " + mediaType);
    }
    if (length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
      return GZIP;
    }
    if (length >= 4
        && (magic[0] & 0xff) == 0x28
        && (magic[1] & 0xff) == 0xb5
        && (magic[2] & 0xff) == 0x2f
        && (magic[3] & 0xff) == 0xfd) {
      return ZSTD;
    }
    return NONE;
  }

  /** Wraps the compressed stream in a decompressor. */
  InputStream decompress(InputStream compressed) throws IOException {
    return switch (this) {
      case NONE -> compressed;
      // Concatenated gzip members are legal and some tools (pigz) write them.
      case GZIP ->
          GzipCompressorInputStream.builder()
              .setInputStream(compressed)
              .setDecompressConcatenated(true)
              .get();
      case ZSTD -> new ZstdCompressorInputStream(compressed);
    };
  }
}
