package io.layerns.operator.placement;

/** How well a layer is replicated after a decision. */
public enum LayerHealth {
  /** Every owner holds a Present copy and there are {@code replicas} owners. */
  Replicated,
  /** Fewer Present copies than {@code replicas} on owners; the missing ones are being fetched. */
  UnderReplicated,
  /** Fewer owners than {@code replicas} because no other member node has room for it. */
  NoCapacity,
  /** No member holds a copy and no source is known: the layer cannot be restored. */
  Lost
}
