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
 * @param previousColdKeeper the node the previous decision made the keeper of the layer's bucket
 *     copy, so the choice stays put; null when none
 * @param coldReports what member nodes reported of the layer's bucket copy; only the keeper's
 *     report counts
 */
public record LayerState(
    String digest,
    long sizeBytes,
    List<Holder> holders,
    List<Reference> references,
    boolean hasSource,
    List<String> previousOwners,
    String previousColdKeeper,
    List<ColdReport> coldReports) {

  /** A layer of a namespace without a cold tier. */
  public LayerState(
      String digest,
      long sizeBytes,
      List<Holder> holders,
      List<Reference> references,
      boolean hasSource,
      List<String> previousOwners) {
    this(digest, sizeBytes, holders, references, hasSource, previousOwners, null, List.of());
  }

  /** The report {@code node} made of the bucket copy, or null. */
  public ColdReport coldReportOf(String node) {
    for (ColdReport report : coldReports) {
      if (report.node().equals(node)) {
        return report;
      }
    }
    return null;
  }

  public LayerState {
    Objects.requireNonNull(digest, "digest");
    if (sizeBytes < 0) {
      throw new IllegalArgumentException("size must not be negative: " + digest);
    }
    holders = List.copyOf(holders);
    references = List.copyOf(references);
    previousOwners = List.copyOf(previousOwners);
    coldReports = coldReports == null ? List.of() : List.copyOf(coldReports);
    var nodes = new HashSet<String>();
    for (Holder holder : holders) {
      if (!nodes.add(holder.node())) {
        throw new IllegalArgumentException(
            "layer " + digest + " lists node " + holder.node() + " twice as a holder");
      }
    }
  }
}
