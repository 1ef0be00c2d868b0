package io.layerns.operator.placement;

/** Whether a node can own, serve and drop copies at the instant of a decision. */
public enum Availability {
  /** Ready: may own, serve peers, fetch and drop. */
  Ready,
  /** NotReady for less than the timeout: keeps the ownerships it has, takes no new ones. */
  NotReady,
  /** Deleted, or NotReady past the timeout: owns nothing and serves nobody. */
  Departed
}
