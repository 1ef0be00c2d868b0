package io.layerns.api.v1alpha1;

/** The life of one copy of a layer on one node. */
public enum CopyState {
  /** Being fetched and verified; not usable yet. */
  Fetching,
  /** Verified, unpacked and usable. */
  Present,
  /** No longer owned nor used; dropped after the grace period. */
  Evicting,
  /** The last fetch failed; see the node's LayerStore conditions. */
  Failed
}
