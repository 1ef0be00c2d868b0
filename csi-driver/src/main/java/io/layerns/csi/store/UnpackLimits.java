package io.layerns.csi.store;

import io.layerns.csi.store.tar.TarLimits;

/**
 * Bounds on what one layer may make the unpacker write or hold, against decompression bombs and
 * oversized headers.
 *
 * @param maxUncompressedBytes most bytes the uncompressed tar stream may have
 * @param maxEntries most entries one layer may have
 * @param tar bounds on each tar header
 */
public record UnpackLimits(long maxUncompressedBytes, long maxEntries, TarLimits tar) {

  /** Generous enough for the largest images seen in practice (CUDA and ML images). */
  public static final UnpackLimits DEFAULT =
      new UnpackLimits(64L * 1024 * 1024 * 1024, 2_000_000, TarLimits.DEFAULT);
}
