package io.layerns.csi.store;

/** What {@link LocalLayerStore#deleteLayer} did. */
public enum DeleteOutcome {
  /** The layer was removed. */
  DELETED,
  /** The store did not hold the layer. */
  ABSENT,
  /** A lease holds the layer; it was kept. */
  IN_USE
}
