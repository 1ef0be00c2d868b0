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
 * @param verifyAfter asks the node to verify its copy unless it did at or after this instant (pass
 *     it back as {@link Holder#verifyRequestedAt()}): another copy of the layer waits for it to go;
 *     null when nothing waits
 * @param coldKeeper whether this node keeps the layer's bucket copy (writes and checks it); with
 *     reason {@link Reason#ColdKeeper} that is the only reason it is listed
 */
public record Assignment(
    String node,
    String digest,
    long sizeBytes,
    Reason reason,
    boolean fetch,
    List<String> peers,
    boolean fromSource,
    Instant idleSince,
    Instant verifyAfter,
    boolean coldKeeper) {
  public Assignment {
    peers = List.copyOf(peers);
  }

  /** An entry that asks for no verification. */
  public Assignment(
      String node,
      String digest,
      long sizeBytes,
      Reason reason,
      boolean fetch,
      List<String> peers,
      boolean fromSource,
      Instant idleSince) {
    this(node, digest, sizeBytes, reason, fetch, peers, fromSource, idleSince, null, false);
  }

  /** An entry that does not make the node the layer's cold keeper. */
  public Assignment(
      String node,
      String digest,
      long sizeBytes,
      Reason reason,
      boolean fetch,
      List<String> peers,
      boolean fromSource,
      Instant idleSince,
      Instant verifyAfter) {
    this(node, digest, sizeBytes, reason, fetch, peers, fromSource, idleSince, verifyAfter, false);
  }

  Assignment askingVerificationAfter(Instant at) {
    return new Assignment(
        node, digest, sizeBytes, reason, fetch, peers, fromSource, idleSince, at, coldKeeper);
  }

  Assignment asColdKeeper() {
    return new Assignment(
        node, digest, sizeBytes, reason, fetch, peers, fromSource, idleSince, verifyAfter, true);
  }
}
