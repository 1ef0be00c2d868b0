package io.layerns.operator.placement;

import java.util.List;

/**
 * The decision for one layer.
 *
 * @param owners the owner nodes, sorted by name
 * @param assignments every copy kept or fetched, owners and retained copies, sorted by node
 * @param drops the copies their nodes may delete now, sorted by node
 * @param message for a layer that is not Replicated, a sentence for its status condition
 * @param wantedCopies the node copies placement keeps of this layer: the policy's replicas, or its
 *     cold replicas once the layer's bucket copy is confirmed
 * @param coldKeeper the node that keeps the layer's bucket copy; null without a cold tier
 * @param coldConfirmed whether the cold keeper reports the bucket copy Confirmed
 */
public record LayerDecision(
    String digest,
    List<String> owners,
    List<Assignment> assignments,
    List<Drop> drops,
    LayerHealth health,
    String message,
    int wantedCopies,
    String coldKeeper,
    boolean coldConfirmed) {
  public LayerDecision {
    owners = List.copyOf(owners);
    assignments = List.copyOf(assignments);
    drops = List.copyOf(drops);
  }
}
