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
 * @param verifiedAt when the node last verified the copy (at import or by its scrub); null when its
 *     agent does not tell, and then the copy never holds a drop back
 * @param verifyRequestedAt the verification the previous decision asked of this copy ({@link
 *     Assignment#verifyAfter()}), passed back so that the request stays put; null when none
 */
public record Holder(
    String node,
    CopyState state,
    Instant idleSince,
    Instant verifiedAt,
    Instant verifyRequestedAt) {
  public Holder {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(state, "state");
  }

  /** A copy whose agent tells no verification time. */
  public Holder(String node, CopyState state, Instant idleSince) {
    this(node, state, idleSince, null, null);
  }

  /**
   * Whether the copy counts as verified for a drop decided at {@code now}: verified within {@code
   * window}, or at or after the verification asked of it.
   */
  boolean verifiedRecently(Instant now, java.time.Duration window) {
    if (verifiedAt == null) {
      return true;
    }
    return !verifiedAt.isBefore(now.minus(window))
        || (verifyRequestedAt != null && !verifiedAt.isBefore(verifyRequestedAt));
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
