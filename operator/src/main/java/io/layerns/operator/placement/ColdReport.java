package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.ColdCopyState;
import java.util.Objects;

/**
 * A member node's report of a layer's bucket copy (its {@code LayerStore.status.coldCopies}).
 * Placement believes only the report of the layer's cold keeper: any other node's report, however
 * it reads, changes nothing.
 *
 * @param node the node that reported
 * @param state what it found in the bucket
 */
public record ColdReport(String node, ColdCopyState state) {
  public ColdReport {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(state, "state");
  }
}
