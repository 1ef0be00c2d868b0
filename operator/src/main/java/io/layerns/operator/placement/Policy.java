package io.layerns.operator.placement;

import java.time.Duration;
import java.util.Objects;

/**
 * The namespace policy placement obeys.
 *
 * @param replicas copies kept of each layer, at least 1
 * @param evictionGrace how long a copy that is neither owned nor used is kept before it may go
 * @param notReadyTimeout how long a NotReady member keeps its ownerships before it counts as gone
 */
public record Policy(int replicas, Duration evictionGrace, Duration notReadyTimeout) {
  public Policy {
    if (replicas < 1) {
      throw new IllegalArgumentException("replicas must be at least 1, was " + replicas);
    }
    Objects.requireNonNull(evictionGrace, "evictionGrace");
    Objects.requireNonNull(notReadyTimeout, "notReadyTimeout");
    if (evictionGrace.isNegative() || notReadyTimeout.isNegative()) {
      throw new IllegalArgumentException("durations must not be negative");
    }
  }

  /** A copy of this policy asking for another number of copies. */
  public Policy withReplicas(int newReplicas) {
    return new Policy(newReplicas, evictionGrace, notReadyTimeout);
  }
}
