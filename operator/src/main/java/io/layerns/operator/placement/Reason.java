package io.layerns.operator.placement;

/** Why a node keeps a copy of a layer in its LayerStore spec. */
public enum Reason {
  /** The node is one of the layer's owners. */
  Owner,
  /** A published volume reads this copy, on this node or through a remote mount. */
  InUse,
  /** Neither owned nor used, but not for longer than the eviction grace period. */
  GracePeriod,
  /** Neither owned nor used, but the owners do not all hold a Present copy yet. */
  AwaitingReplacement,
  /**
   * Neither owned nor used, and the owners hold Present copies, but not enough of them were
   * verified recently: kept until the owners verify their copies again (verify before break).
   */
  AwaitingVerification,
  /** The node is not Ready: it acts on nothing, and nothing is dropped behind its back. */
  NodeNotReady,
  /**
   * Listed only because the node keeps the layer's bucket copy checked: it need not hold the layer
   * (a cold layer may have fewer node copies than the other reasons keep).
   */
  ColdKeeper
}
