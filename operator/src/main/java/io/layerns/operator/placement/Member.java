package io.layerns.operator.placement;

import java.time.Instant;
import java.util.Objects;

/**
 * A member node as placement sees it: its readiness and its room for layer copies.
 *
 * @param name the node name
 * @param ready whether the node's Ready condition is True
 * @param readinessChangedAt when the Ready condition last changed; a NotReady node loses its
 *     ownerships once the policy's timeout has passed since then
 * @param capacityBytes bytes of layer data the node may store, or {@link #UNLIMITED}
 * @param usedBytes bytes its store uses, counting copies being fetched (the agent reserves their
 *     size when it starts), as reported in its LayerStore status
 */
public record Member(
    String name, boolean ready, Instant readinessChangedAt, long capacityBytes, long usedBytes) {

  /** Capacity of a node without a configured limit. */
  public static final long UNLIMITED = Long.MAX_VALUE;

  public Member {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(readinessChangedAt, "readinessChangedAt");
    if (capacityBytes < 0 || usedBytes < 0) {
      throw new IllegalArgumentException("capacity and used bytes must not be negative: " + name);
    }
  }

  /** A Ready member with unlimited room, Ready since the epoch. */
  public static Member ready(String name) {
    return new Member(name, true, Instant.EPOCH, UNLIMITED, 0);
  }

  /** Bytes still free, before this decision's own reservations. */
  public long freeBytes() {
    return capacityBytes == UNLIMITED ? UNLIMITED : Math.max(0, capacityBytes - usedBytes);
  }
}
