package io.layerns.operator.membership;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.operator.membership.Membership.NodeLabels;
import io.layerns.operator.membership.Membership.Selector;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MembershipTest {

  @Test
  void emptySelectorSelectsEveryNode() {
    var result =
        Membership.compute(
            List.of(new Selector("all", Map.of())),
            List.of(new NodeLabels("n1", Map.of()), new NodeLabels("n2", Map.of("x", "y"))));
    assertThat(result.membersOf("all")).containsExactly("n1", "n2");
  }

  @Test
  void nodeJoinsTheOnlyNamespaceWhoseSelectorMatchesAllLabels() {
    var result =
        Membership.compute(
            List.of(
                new Selector("gpu", Map.of("tier", "gpu", "zone", "a")),
                new Selector("cpu", Map.of("tier", "cpu"))),
            List.of(
                new NodeLabels("g1", Map.of("tier", "gpu", "zone", "a")),
                new NodeLabels("g2", Map.of("tier", "gpu", "zone", "b")),
                new NodeLabels("c1", Map.of("tier", "cpu"))));
    assertThat(result.membersOf("gpu")).containsExactly("g1");
    assertThat(result.membersOf("cpu")).containsExactly("c1");
    assertThat(result.namespaceOf("g2")).isNull();
    assertThat(result.conflicts()).isEmpty();
  }

  @Test
  void nodeClaimedByTwoNamespacesBelongsToNeitherAndBothSeeIt() {
    var result =
        Membership.compute(
            List.of(
                new Selector("a", Map.of("team", "a")), new Selector("gpu", Map.of("tier", "gpu"))),
            List.of(
                new NodeLabels("shared", Map.of("team", "a", "tier", "gpu")),
                new NodeLabels("mine", Map.of("team", "a"))));
    assertThat(result.membersOf("a")).containsExactly("mine");
    assertThat(result.membersOf("gpu")).isEmpty();
    assertThat(result.conflictsOf("a")).containsExactly("shared");
    assertThat(result.conflictsOf("gpu")).containsExactly("shared");
  }
}
