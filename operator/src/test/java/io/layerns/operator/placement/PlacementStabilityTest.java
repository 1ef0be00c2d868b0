package io.layerns.operator.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Measures how many ownerships move when one node joins or leaves N nodes. */
class PlacementStabilityTest {
  static final int LAYERS = 4_000;
  static final Instant NOW = Instant.parse("2025-06-01T12:00:00Z");
  static final Policy TWO_COPIES = new Policy(2, Duration.ofMinutes(5), Duration.ofMinutes(5));

  @ParameterizedTest(name = "N = {0}")
  @ValueSource(ints = {10, 20, 50})
  void addingOneNodeToNMovesAboutOneNthOfOwnerships(int n) {
    // No copies and no history: owners are pure rendezvous choices among equal nodes.
    var layers = layersWithSourceOnly();
    var before = Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n), layers));
    var after = Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n + 1), layers));

    double moved = movedFraction(before, after);
    System.out.printf(
        "join: %d -> %d nodes moved %.4f of ownerships (1/N = %.4f)%n", n, n + 1, moved, 1.0 / n);
    assertThat(moved).isBetween(0.5 / n, 2.0 / n);
    assertThat(after.assignmentsFor("node-" + n)).isNotEmpty();
  }

  @ParameterizedTest(name = "N = {0}")
  @ValueSource(ints = {10, 20, 50})
  void removingOneNodeMovesOnlyItsOwnOwnerships(int n) {
    var layers = layersWithSourceOnly();
    var before = Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n), layers));
    var after = Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n - 1), layers));

    double moved = movedFraction(before, after);
    System.out.printf(
        "leave: %d -> %d nodes moved %.4f of ownerships (1/N = %.4f)%n", n, n - 1, moved, 1.0 / n);
    assertThat(moved).isBetween(0.5 / n, 2.0 / n);
    String gone = "node-" + (n - 1);
    for (LayerDecision decided : before.layers()) {
      var kept = new HashSet<>(decided.owners());
      kept.remove(gone);
      assertThat(after.layer(decided.digest()).orElseThrow().owners()).containsAll(kept);
    }
  }

  @ParameterizedTest(name = "N = {0}")
  @ValueSource(ints = {10, 20, 50})
  void joiningNodeTakesAFairShareOfNewCopiesAndNoExistingOnes(int n) {
    // A converged cluster: every owner holds a Present copy.
    var converged = new ArrayList<LayerState>();
    var placed =
        Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n), layersWithSourceOnly()));
    for (LayerDecision decided : placed.layers()) {
      var builder = LayerBuilder.layer(decided.digest().substring("sha256:".length())).source();
      decided.owners().forEach(builder::present);
      converged.add(builder.owners(decided.owners().toArray(String[]::new)).build());
    }
    var joined = Placement.decide(new ClusterState(TWO_COPIES, NOW, nodes(n + 1), converged));
    assertThat(movedFraction(placed, joined)).isZero();

    var threeCopies = TWO_COPIES.withReplicas(3);
    var raised = Placement.decide(new ClusterState(threeCopies, NOW, nodes(n + 1), converged));
    // Every new copy is the third: the newcomer wins it whenever it ranks in a layer's top three,
    // so it ends up holding what a fresh placement over N+1 nodes would give it, no more.
    long newcomerCopies = raised.assignmentsFor("node-" + n).size();
    double share = (double) newcomerCopies / (3.0 * LAYERS);
    System.out.printf(
        "join then replicas 2 -> 3 on %d nodes: newcomer holds %.4f of all ownerships"
            + " (1/(N+1) = %.4f), %.4f of the new copies%n",
        n, share, 1.0 / (n + 1), (double) newcomerCopies / LAYERS);
    assertThat(share).isBetween(0.5 / (n + 1), 2.0 / (n + 1));
    assertThat(movedFraction(placed, raised)).isZero();
  }

  /** Fraction of (layer, owner) pairs of {@code before} that {@code after} no longer has. */
  static double movedFraction(Decision before, Decision after) {
    long total = 0;
    long moved = 0;
    for (LayerDecision decided : before.layers()) {
      Set<String> now = Set.copyOf(after.layer(decided.digest()).orElseThrow().owners());
      for (String owner : decided.owners()) {
        total++;
        if (!now.contains(owner)) {
          moved++;
        }
      }
    }
    return (double) moved / total;
  }

  static List<Member> nodes(int count) {
    var members = new ArrayList<Member>();
    for (int i = 0; i < count; i++) {
      members.add(Member.ready("node-" + i));
    }
    return members;
  }

  static List<LayerState> layersWithSourceOnly() {
    var layers = new ArrayList<LayerState>();
    for (int i = 0; i < LAYERS; i++) {
      layers.add(LayerBuilder.layer(String.format("%064x", i * 7919L)).source().build());
    }
    return layers;
  }
}
