package io.layerns.operator.placement;

import java.util.List;

/**
 * The decision for one layer.
 *
 * @param owners the owner nodes, sorted by name
 * @param assignments every copy kept or fetched, owners and retained copies, sorted by node
 * @param drops the copies their nodes may delete now, sorted by node
 * @param message for a layer that is not Replicated, a sentence for its status condition
 */
public record LayerDecision(
    String digest,
    List<String> owners,
    List<Assignment> assignments,
    List<Drop> drops,
    LayerHealth health,
    String message) {
  public LayerDecision {
    owners = List.copyOf(owners);
    assignments = List.copyOf(assignments);
    drops = List.copyOf(drops);
  }
}
