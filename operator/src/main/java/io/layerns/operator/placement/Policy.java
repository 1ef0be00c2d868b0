package io.layerns.operator.placement;

import java.time.Duration;
import java.util.Objects;

/**
 * The namespace policy placement obeys.
 *
 * @param replicas copies kept of each layer, at least 1
 * @param evictionGrace how long a copy that is neither owned nor used is kept before it may go
 * @param notReadyTimeout how long a NotReady member keeps its ownerships before it counts as gone
 * @param verifiedWithin a copy with data goes only when {@code replicas} owners hold copies
 *     verified within this time, or verified again on request; zero asks every time
 */
public record Policy(
    int replicas, Duration evictionGrace, Duration notReadyTimeout, Duration verifiedWithin) {

  /** A policy that asks for a fresh verification before every drop of a copy with data. */
  public Policy(int replicas, Duration evictionGrace, Duration notReadyTimeout) {
    this(replicas, evictionGrace, notReadyTimeout, Duration.ZERO);
  }

  public Policy {
    if (replicas < 1) {
      throw new IllegalArgumentException("replicas must be at least 1, was " + replicas);
    }
    Objects.requireNonNull(evictionGrace, "evictionGrace");
    Objects.requireNonNull(notReadyTimeout, "notReadyTimeout");
    Objects.requireNonNull(verifiedWithin, "verifiedWithin");
    if (evictionGrace.isNegative() || notReadyTimeout.isNegative() || verifiedWithin.isNegative()) {
      throw new IllegalArgumentException("durations must not be negative");
    }
  }

  /** A copy of this policy asking for another number of copies. */
  public Policy withReplicas(int newReplicas) {
    return new Policy(newReplicas, evictionGrace, notReadyTimeout, verifiedWithin);
  }
}
