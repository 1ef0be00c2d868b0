package io.layerns.operator.placement;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Everything one full placement decision reads: policy, the instant it is made, members, layers.
 *
 * @param now the instant the decision is made for; placement never reads a clock
 */
public record ClusterState(
    Policy policy, Instant now, List<Member> members, List<LayerState> layers) {
  public ClusterState {
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(now, "now");
    members = List.copyOf(members);
    layers = List.copyOf(layers);
  }

  /** The member view a decision over any subset of these layers uses. */
  public MemberIndex membership() {
    return MemberIndex.of(policy, now, members);
  }
}
