package io.layerns.csi.store;

/** A claim on a stored layer while a volume uses it; the store does not delete a claimed layer. */
public interface LayerLease extends AutoCloseable {
  /** The claimed layer. */
  StoredLayer layer();

  /** Releases the claim; releasing twice has no further effect. */
  @Override
  void close();
}
