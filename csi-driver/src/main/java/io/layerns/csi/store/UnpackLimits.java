package io.layerns.csi.store;

import io.layerns.csi.store.tar.TarLimits;

/**
 * Bounds on what one layer may make the unpacker write or hold, against decompression bombs and
 * oversized headers.
 *
 * @param maxUncompressedBytes most bytes the uncompressed tar stream may have
 * @param maxEntries most entries one layer may have
 * @param tar bounds on each tar header
 * @param maxExpansionRatio most uncompressed bytes per compressed byte read so far, past {@code
 *     expansionAllowanceBytes}: a small blob cannot expand to the whole size limit
 * @param expansionAllowanceBytes uncompressed bytes allowed whatever the ratio, so that a layer
 *     starting with a large run of zeros is not taken for a bomb
 * @param minFreeFraction the share of the store's filesystem an unpack must leave free (the kubelet
 *     evicts pods when its filesystem runs below 10% free)
 */
public record UnpackLimits(
    long maxUncompressedBytes,
    long maxEntries,
    TarLimits tar,
    long maxExpansionRatio,
    long expansionAllowanceBytes,
    double minFreeFraction) {

  /**
   * Generous enough for the largest images seen in practice (CUDA and ML images). Deflate cannot
   * expand more than 1032 times, so the ratio never refuses a gzip layer; it stops zstd bombs.
   */
  public static final UnpackLimits DEFAULT =
      new UnpackLimits(64L << 30, 2_000_000, TarLimits.DEFAULT, 1100, 1L << 30, 0.10);

  public UnpackLimits {
    if (minFreeFraction < 0 || minFreeFraction >= 1) {
      throw new IllegalArgumentException("minFreeFraction must be in [0, 1): " + minFreeFraction);
    }
  }

  /** These limits with a size limit and entry limit of their own, as tests set them. */
  public UnpackLimits(long maxUncompressedBytes, long maxEntries, TarLimits tar) {
    this(
        maxUncompressedBytes,
        maxEntries,
        tar,
        DEFAULT.maxExpansionRatio,
        DEFAULT.expansionAllowanceBytes,
        DEFAULT.minFreeFraction);
  }
}
