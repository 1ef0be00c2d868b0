package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.CopyState;
import java.time.Instant;
import java.util.Objects;

/**
 * One node's copy of a layer.
 *
 * @param node the node that holds the copy
 * @param state the state its agent reports
 * @param idleSince since when the copy has been neither owned nor used, as recorded from the
 *     previous decision ({@link Assignment#idleSince()}); null when it was owned or used
 */
public record Holder(String node, CopyState state, Instant idleSince) {
  public Holder {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(state, "state");
  }

  /** A copy that was owned or used at the previous decision. */
  public static Holder of(String node, CopyState state) {
    return new Holder(node, state, null);
  }

  /** Whether the copy's bits may be on disk: losing it could lose the layer. */
  boolean hasData() {
    return state == CopyState.Present || state == CopyState.Evicting;
  }

  /** Whether the node has or is getting the bits, so choosing it costs no new fetch. */
  boolean hasOrGetsData() {
    return state != CopyState.Failed;
  }
}
