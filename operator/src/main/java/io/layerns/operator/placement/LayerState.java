package io.layerns.operator.placement;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * What the operator observed about one layer: its copies, its users, and the last decision.
 *
 * @param digest the layer's digest, {@code sha256:<hex>}
 * @param sizeBytes size of the compressed blob
 * @param holders the copies, at most one per node
 * @param references published volumes using the layer, per mounting node
 * @param hasSource whether a registry source is known to re-fetch it from
 * @param previousOwners owners of the previous decision, so a decision stays put
 */
public record LayerState(
    String digest,
    long sizeBytes,
    List<Holder> holders,
    List<Reference> references,
    boolean hasSource,
    List<String> previousOwners) {

  public LayerState {
    Objects.requireNonNull(digest, "digest");
    if (sizeBytes < 0) {
      throw new IllegalArgumentException("size must not be negative: " + digest);
    }
    holders = List.copyOf(holders);
    references = List.copyOf(references);
    previousOwners = List.copyOf(previousOwners);
    var nodes = new HashSet<String>();
    for (Holder holder : holders) {
      if (!nodes.add(holder.node())) {
        throw new IllegalArgumentException(
            "layer " + digest + " lists node " + holder.node() + " twice as a holder");
      }
    }
  }
}
