package io.layerns.operator.placement;

import java.time.Instant;
import java.util.List;

/**
 * A layer a node must keep (or fetch), and why: one entry of that node's LayerStore spec.
 *
 * @param fetch whether the node must fetch it (an owner without a Present copy)
 * @param peers when fetching: Ready nodes holding a Present copy, best first, at most {@value
 *     Placement#MAX_PEERS}
 * @param fromSource when fetching: whether the registry source may be used when no peer serves it
 * @param idleSince since when the copy has been neither owned nor used (record it and pass it back
 *     as {@link Holder#idleSince()}); null for owned or used copies
 */
public record Assignment(
    String node,
    String digest,
    long sizeBytes,
    Reason reason,
    boolean fetch,
    List<String> peers,
    boolean fromSource,
    Instant idleSince) {
  public Assignment {
    peers = List.copyOf(peers);
  }
}
