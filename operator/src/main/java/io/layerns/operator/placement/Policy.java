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
 * @param coldReplicas with a cold tier, the node copies kept of a layer whose bucket copy its cold
 *     keeper reports Confirmed (0 or more); null without a cold tier
 */
public record Policy(
    int replicas,
    Duration evictionGrace,
    Duration notReadyTimeout,
    Duration verifiedWithin,
    Integer coldReplicas) {

  /** A policy that asks for a fresh verification before every drop of a copy with data. */
  public Policy(int replicas, Duration evictionGrace, Duration notReadyTimeout) {
    this(replicas, evictionGrace, notReadyTimeout, Duration.ZERO);
  }

  /** A policy without a cold tier. */
  public Policy(
      int replicas, Duration evictionGrace, Duration notReadyTimeout, Duration verifiedWithin) {
    this(replicas, evictionGrace, notReadyTimeout, verifiedWithin, null);
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
    if (coldReplicas != null && coldReplicas < 0) {
      throw new IllegalArgumentException("cold replicas must not be negative, was " + coldReplicas);
    }
  }

  /** A copy of this policy asking for another number of copies. */
  public Policy withReplicas(int newReplicas) {
    return new Policy(newReplicas, evictionGrace, notReadyTimeout, verifiedWithin, coldReplicas);
  }

  /** A copy of this policy with a cold tier keeping {@code copies} node copies of cold layers. */
  public Policy withColdTier(int copies) {
    return new Policy(replicas, evictionGrace, notReadyTimeout, verifiedWithin, copies);
  }

  /** Whether the namespace has a cold tier. */
  public boolean hasColdTier() {
    return coldReplicas != null;
  }
}
