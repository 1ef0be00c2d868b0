package io.layerns.csi.store.tar;

/**
 * Bounds on what a tar header may make the reader hold in memory.
 *
 * @param maxExtendedHeaderBytes largest PAX extended header of one member
 * @param maxNameBytes longest member name or link target (Linux PATH_MAX is 4096)
 * @param maxXattrsPerEntry most extended attributes on one member
 * @param maxXattrValueBytes largest extended attribute value (Linux allows 64 KiB)
 */
public record TarLimits(
    int maxExtendedHeaderBytes, int maxNameBytes, int maxXattrsPerEntry, int maxXattrValueBytes) {

  /** Limits that every real image layer fits in. */
  public static final TarLimits DEFAULT = new TarLimits(1024 * 1024, 4096, 128, 64 * 1024);
}
