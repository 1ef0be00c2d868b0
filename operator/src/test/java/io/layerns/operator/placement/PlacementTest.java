package io.layerns.operator.placement;

import static io.layerns.operator.placement.LayerBuilder.layer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.api.v1alpha1.CopyState;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class PlacementTest {
  static final Instant NOW = Instant.parse("2025-06-01T12:00:00Z");
  static final Duration GRACE = Duration.ofMinutes(5);
  static final Duration TIMEOUT = Duration.ofMinutes(10);

  static Policy replicas(int replicas) {
    return new Policy(replicas, GRACE, TIMEOUT);
  }

  static List<Member> ready(String... names) {
    return Stream.of(names).map(Member::ready).toList();
  }

  static LayerDecision decideOne(Policy policy, List<Member> members, LayerState layer) {
    Decision decision = Placement.decide(new ClusterState(policy, NOW, members, List.of(layer)));
    return decision.layer(layer.digest()).orElseThrow();
  }

  static Assignment assignment(LayerDecision decision, String node) {
    return decision.assignments().stream()
        .filter(a -> a.node().equals(node))
        .findFirst()
        .orElseThrow(() -> new AssertionError(node + " has no assignment in " + decision));
  }

  static List<String> dropped(LayerDecision decision) {
    return decision.drops().stream().map(Drop::node).toList();
  }

  /**
   * Issue 23: chaos-5's copy rotted at import time + 1 h, unseen; replicas 2 -> 1 leaves chaos-5
   * the owner and chaos-4 a copy to drop. The drop waits until chaos-5 verified its copy after
   * being asked, and the request stays put until then.
   */
  @Test
  void aCopyIsDroppedOnlyAfterTheOwnersVerifiedTheirsOnRequest() {
    Instant imported = NOW.minus(Duration.ofHours(2));
    Instant idle = NOW.minus(GRACE).minusSeconds(1);
    var members = ready("chaos-4", "chaos-5");
    LayerState before =
        layer("a")
            .holder(new Holder("chaos-5", CopyState.Present, null, imported, null))
            .holder(new Holder("chaos-4", CopyState.Present, idle, imported, null))
            .owners("chaos-5")
            .build();

    var asked = decideOne(replicas(1), members, before);

    assertThat(asked.owners()).containsExactly("chaos-5");
    assertThat(dropped(asked)).isEmpty();
    assertThat(assignment(asked, "chaos-4").reason()).isEqualTo(Reason.AwaitingVerification);
    assertThat(assignment(asked, "chaos-5").verifyAfter()).isEqualTo(NOW);

    LayerState notYet =
        layer("a")
            .holder(new Holder("chaos-5", CopyState.Present, null, imported, NOW))
            .holder(new Holder("chaos-4", CopyState.Present, idle, imported, null))
            .owners("chaos-5")
            .build();
    var waiting = decideOne(replicas(1), members, notYet);
    assertThat(dropped(waiting)).isEmpty();
    assertThat(assignment(waiting, "chaos-5").verifyAfter())
        .as("the request stays put")
        .isEqualTo(NOW);

    LayerState verified =
        layer("a")
            .holder(new Holder("chaos-5", CopyState.Present, null, NOW.plusSeconds(3), NOW))
            .holder(new Holder("chaos-4", CopyState.Present, idle, imported, null))
            .owners("chaos-5")
            .build();
    assertThat(dropped(decideOne(replicas(1), members, verified))).containsExactly("chaos-4");

    // Rot found: chaos-5's copy is gone (quarantined), so chaos-4 stays and becomes the owner.
    LayerState rotFound =
        layer("a")
            .holder(new Holder("chaos-4", CopyState.Present, idle, imported, null))
            .owners("chaos-5")
            .build();
    var kept = decideOne(replicas(1), members, rotFound);
    assertThat(kept.owners()).containsExactly("chaos-4");
    assertThat(dropped(kept)).isEmpty();
  }

  @Test
  void aCopyVerifiedWithinTheWindowNeedsNoRequest() {
    Instant idle = NOW.minus(GRACE).minusSeconds(1);
    var policy = new Policy(1, GRACE, TIMEOUT, Duration.ofMinutes(10));
    LayerState state =
        layer("a")
            .holder(new Holder("n1", CopyState.Present, null, NOW.minusSeconds(599), null))
            .holder(new Holder("n2", CopyState.Present, idle, NOW.minusSeconds(599), null))
            .owners("n1")
            .build();

    var decision = decideOne(policy, ready("n1", "n2"), state);

    assertThat(dropped(decision)).containsExactly("n2");
    assertThat(assignment(decision, "n1").verifyAfter()).isNull();
  }

  @Test
  void choosesPresentHoldersAsOwnersAndAsksNothingNew() {
    var decision =
        decideOne(
            replicas(2), ready("n1", "n2", "n3", "n4"), layer("a").present("n2", "n4").build());

    assertThat(decision.owners()).containsExactly("n2", "n4");
    assertThat(decision.assignments()).noneMatch(Assignment::fetch);
    assertThat(decision.health()).isEqualTo(LayerHealth.Replicated);
  }

  @Test
  void prefersPresentThenFetchingThenMountingNode() {
    var members = ready("n1", "n2", "n3", "n4", "n5", "n6");
    var state =
        layer("a").present("n5").fetching("n3").present("n1").reads("n6", "n1").source().build();

    assertThat(decideOne(replicas(2), members, state).owners()).containsExactly("n1", "n5");
    assertThat(decideOne(replicas(3), members, state).owners()).containsExactly("n1", "n3", "n5");
    assertThat(decideOne(replicas(4), members, state).owners())
        .containsExactly("n1", "n3", "n5", "n6");
  }

  @Test
  void keepsPreviousOwnersWhenAnotherNodeGetsACopy() {
    var members = ready("n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8");
    // Whatever rendezvous says about n1..n8, earlier owners with Present copies stay owners.
    for (String newcomer : List.of("n1", "n2", "n3", "n4", "n5", "n6")) {
      var decision =
          decideOne(
              replicas(2),
              members,
              layer("a").present("n7", "n8", newcomer).owners("n7", "n8").build());
      assertThat(decision.owners()).containsExactly("n7", "n8");
    }
  }

  @Test
  void newOwnerFetchesFromPresentPeersAndMayFallBackToSource() {
    var decision =
        decideOne(
            replicas(3),
            ready("n1", "n2", "n3", "n4"),
            layer("a").present("n1", "n2").source().build());

    var fetcher =
        decision.assignments().stream().filter(Assignment::fetch).findFirst().orElseThrow();
    assertThat(fetcher.node()).isIn("n3", "n4");
    assertThat(fetcher.peers()).containsExactlyInAnyOrder("n1", "n2");
    assertThat(fetcher.fromSource()).isTrue();
    assertThat(decision.health()).isEqualTo(LayerHealth.UnderReplicated);
  }

  @Test
  void namesAtMostThreeReadyPresentPeersAndNeverTheFetcherItself() {
    var members = new ArrayList<>(ready("n1", "n2", "n3", "n4", "n5", "n6"));
    members.add(new Member("n7", false, NOW.minusSeconds(1), Member.UNLIMITED, 0));
    var decision =
        decideOne(
            replicas(2),
            members,
            layer("a")
                .present("n1", "n2", "n3", "n4", "n7")
                .failed("n5")
                .owners("n5", "n1")
                .build());

    for (Assignment fetch : decision.assignments().stream().filter(Assignment::fetch).toList()) {
      assertThat(fetch.peers()).hasSizeLessThanOrEqualTo(3).doesNotContain(fetch.node(), "n7");
      assertThat(fetch.peers()).isSubsetOf("n1", "n2", "n3", "n4");
    }
  }

  @Test
  void neverDropsLastCopyEvenWhenAnotherNodeWasChosenBefore() {
    var decision =
        decideOne(
            replicas(1),
            ready("n1", "n2"),
            layer("a")
                .idle("n1", CopyState.Present, NOW.minus(Duration.ofDays(1)))
                .fetching("n2")
                .owners("n2")
                .build());

    assertThat(decision.drops()).noneMatch(drop -> drop.node().equals("n1"));
    assertThat(decision.owners()).containsExactly("n1");
  }

  @Test
  void keepsExtraCopyWhileAnOwnerIsNotReady() {
    var members = new ArrayList<>(ready("n1", "n3"));
    members.add(new Member("n2", false, NOW.minusSeconds(60), Member.UNLIMITED, 0));
    var decision =
        decideOne(
            replicas(2),
            members,
            layer("a")
                .present("n1", "n2")
                .idle("n3", CopyState.Present, NOW.minus(Duration.ofHours(1)))
                .owners("n1", "n2")
                .build());

    assertThat(decision.owners()).containsExactly("n1", "n2");
    assertThat(decision.drops()).isEmpty();
    assertThat(assignment(decision, "n3").reason()).isEqualTo(Reason.AwaitingReplacement);
  }

  @Test
  void evictsNonOwnerCopyAfterGracePeriod() {
    var decision =
        decideOne(
            replicas(2),
            ready("n1", "n2", "n3"),
            layer("a")
                .present("n1", "n2")
                .idle("n3", CopyState.Present, NOW.minus(GRACE))
                .owners("n1", "n2")
                .build());

    assertThat(decision.drops()).containsExactly(new Drop("n3", "sha256:a", CopyState.Present));
    assertThat(decision.assignments()).extracting(Assignment::node).containsExactly("n1", "n2");
  }

  @Test
  void keepsNonOwnerCopyDuringGracePeriodAndStartsItsClock() {
    var members = ready("n1", "n2", "n3");
    var fresh =
        decideOne(
            replicas(2), members, layer("a").present("n1", "n2", "n3").owners("n1", "n2").build());
    var almost =
        decideOne(
            replicas(2),
            members,
            layer("a")
                .present("n1", "n2")
                .idle("n3", CopyState.Present, NOW.minus(GRACE).plusSeconds(1))
                .owners("n1", "n2")
                .build());

    assertThat(fresh.drops()).isEmpty();
    assertThat(assignment(fresh, "n3").reason()).isEqualTo(Reason.GracePeriod);
    assertThat(assignment(fresh, "n3").idleSince()).isEqualTo(NOW);
    assertThat(almost.drops()).isEmpty();
    assertThat(assignment(almost, "n3").idleSince()).isEqualTo(NOW.minus(GRACE).plusSeconds(1));
  }

  @Test
  void keepsCopyUsedByLocalVolume() {
    var decision =
        decideOne(
            replicas(1),
            ready("n1", "n2"),
            layer("a")
                .present("n1")
                .idle("n2", CopyState.Present, NOW.minus(Duration.ofDays(1)))
                .owners("n1")
                .reads("n2", "n2")
                .build());

    assertThat(decision.drops()).isEmpty();
    assertThat(assignment(decision, "n2").reason()).isEqualTo(Reason.InUse);
    assertThat(assignment(decision, "n2").idleSince()).isNull();
  }

  @Test
  void keepsCopyUsedByRemoteVolume() {
    var decision =
        decideOne(
            replicas(1),
            ready("n1", "n2", "n3"),
            layer("a")
                .present("n1")
                .idle("n2", CopyState.Present, NOW.minus(Duration.ofDays(1)))
                .owners("n1")
                .reads("n3", "n2")
                .build());

    assertThat(dropped(decision)).doesNotContain("n2");
    assertThat(assignment(decision, "n2").reason()).isEqualTo(Reason.InUse);
  }

  @Test
  void departedNodeLosesOwnershipAndReplacementFetchesFromSurvivor() {
    var decision =
        decideOne(
            replicas(2),
            ready("n1", "n3", "n4"),
            layer("a").present("n1", "n2").owners("n1", "n2").build());

    assertThat(decision.owners()).hasSize(2).contains("n1").doesNotContain("n2");
    var replacement = decision.assignments().stream().filter(Assignment::fetch).toList();
    assertThat(replacement)
        .singleElement()
        .satisfies(a -> assertThat(a.peers()).containsExactly("n1"));
    assertThat(decision.assignments()).noneMatch(a -> a.node().equals("n2"));
  }

  @Test
  void notReadyNodeKeepsOwnershipUntilTimeout() {
    var layer = layer("a").present("n1", "n2").owners("n1", "n2").build();
    var within =
        List.of(
            Member.ready("n1"),
            new Member("n2", false, NOW.minus(TIMEOUT).plusSeconds(1), Member.UNLIMITED, 0),
            Member.ready("n3"));
    var past =
        List.of(
            Member.ready("n1"),
            new Member("n2", false, NOW.minus(TIMEOUT), Member.UNLIMITED, 0),
            Member.ready("n3"));

    assertThat(decideOne(replicas(2), within, layer).owners()).containsExactly("n1", "n2");
    var afterTimeout = decideOne(replicas(2), past, layer);
    assertThat(afterTimeout.owners()).containsExactly("n1", "n3");
    assertThat(assignment(afterTimeout, "n2").reason()).isEqualTo(Reason.NodeNotReady);
    assertThat(afterTimeout.drops()).isEmpty();
  }

  @Test
  void notReadyNodeTakesNoNewOwnership() {
    var members = List.of(Member.ready("n1"), new Member("n2", false, NOW, Member.UNLIMITED, 0));
    var decision = decideOne(replicas(2), members, layer("a").present("n1").source().build());

    assertThat(decision.owners()).containsExactly("n1");
    assertThat(decision.health()).isEqualTo(LayerHealth.UnderReplicated);
  }

  @Test
  void refetchesFromSourceWhenNoHolderLeft() {
    var decision =
        decideOne(
            replicas(2), ready("n1", "n2", "n3"), layer("a").present("gone").source().build());

    assertThat(decision.health()).isEqualTo(LayerHealth.UnderReplicated);
    assertThat(decision.owners()).hasSize(2);
    assertThat(decision.assignments())
        .allSatisfy(
            a -> {
              assertThat(a.fetch()).isTrue();
              assertThat(a.peers()).isEmpty();
              assertThat(a.fromSource()).isTrue();
            });
  }

  @Test
  void reportsLostWhenNoHolderAndNoSource() {
    var state =
        new ClusterState(
            replicas(2),
            NOW,
            ready("n1", "n2"),
            List.of(layer("a").present("gone").build(), layer("b").present("n1").build()));
    var decision = Placement.decide(state);

    assertThat(decision.lost()).containsExactly("sha256:a");
    assertThat(decision.layer("sha256:a").orElseThrow().owners()).isEmpty();
    assertThat(decision.layer("sha256:a").orElseThrow().message()).contains("re-import");
    assertThat(decision.underReplicated()).isEqualTo(1);
  }

  @Test
  void fullNodeIsNotChosenAsNewOwner() {
    var members =
        List.of(
            Member.ready("n1"),
            new Member("n2", true, Instant.EPOCH, 1_000, 950),
            new Member("n3", true, Instant.EPOCH, 1_000, 0));
    var decision = decideOne(replicas(2), members, layer("a").size(100).present("n1").build());

    assertThat(decision.owners()).containsExactly("n1", "n3");
  }

  @Test
  void oneDecisionDoesNotOverfillANodeWithSeveralNewCopies() {
    var members = List.of(Member.ready("n1"), new Member("n2", true, Instant.EPOCH, 250, 0));
    var layers =
        List.of(
            layer("a").present("n1").build(),
            layer("b").present("n1").build(),
            layer("c").present("n1").build());
    var decision = Placement.decide(new ClusterState(replicas(2), NOW, members, layers));

    assertThat(decision.assignmentsFor("n2")).extracting(Assignment::digest).hasSize(2);
    assertThat(decision.noCapacity()).extracting(NoCapacity::digest).containsExactly("sha256:c");
  }

  @Test
  void reportsNoCapacityWhenNoNodeFits() {
    var members = List.of(Member.ready("n1"), new Member("n2", true, Instant.EPOCH, 1_000, 950));
    var decision =
        Placement.decide(
            new ClusterState(
                replicas(2), NOW, members, List.of(layer("a").size(100).present("n1").build())));

    assertThat(decision.noCapacity())
        .singleElement()
        .satisfies(
            shortfall -> {
              assertThat(shortfall.owners()).isEqualTo(1);
              assertThat(shortfall.wanted()).isEqualTo(2);
              assertThat(shortfall.message()).contains("nodeCapacity");
            });
    assertThat(decision.underReplicated()).isEqualTo(1);
  }

  @Test
  void failedOwnerHandsOwnershipToANodeWithRoom() {
    var decision =
        decideOne(
            replicas(2),
            ready("n1", "n2", "n3"),
            layer("a").present("n1").failed("n2").owners("n1", "n2").build());

    assertThat(decision.owners()).containsExactly("n1", "n3");
    assertThat(decision.drops()).containsExactly(new Drop("n2", "sha256:a", CopyState.Failed));
  }

  /**
   * Found by ChaosIT (seed 8824192977769914264, step 51): a layer whose last holder left, with its
   * registry unreachable. Every node fetches it from that same source, so handing the ownership on
   * only moves the failure; and since an agent reports a failed fetch only while it owns the layer,
   * the ownership went back and forth between two nodes several times a second (a spec write and a
   * fetch each time) for as long as the source stayed away.
   */
  @Test
  void failedOwnerOfALayerOnlyItsSourceHoldsKeepsTheOwnership() {
    var members = ready("n1", "n2", "n3");
    var first = decideOne(replicas(1), members, layer("a").present("gone").source().build());
    String owner = first.owners().getFirst();

    List<String> owners = new ArrayList<>();
    List<String> previous = first.owners();
    for (int round = 0; round < 4; round++) {
      // What the agents report: the owners' fetches failed; the others report nothing.
      var layer = layer("a").source().owners(previous.toArray(String[]::new));
      previous.forEach(layer::failed);
      var decision = decideOne(replicas(1), members, layer.build());
      owners.addAll(decision.owners());
      previous = decision.owners();
      assertThat(assignment(decision, owner).fetch()).isTrue();
      assertThat(decision.drops()).isEmpty();
    }

    assertThat(owners).containsOnly(owner);
  }

  @Test
  void loweringReplicasDropsExtraCopiesOnlyAfterGrace() {
    var members = ready("n1", "n2", "n3");
    var layer = layer("a").present("n1", "n2", "n3").owners("n1", "n2", "n3").build();
    var lowered = decideOne(replicas(2), members, layer);

    assertThat(lowered.owners()).hasSize(2);
    assertThat(lowered.drops()).isEmpty();
    String extra =
        lowered.assignments().stream()
            .filter(a -> a.reason() == Reason.GracePeriod)
            .findFirst()
            .orElseThrow()
            .node();
    var later =
        decideOne(
            replicas(2),
            members,
            new LayerState(
                layer.digest(),
                layer.sizeBytes(),
                layer.holders().stream()
                    .map(
                        h ->
                            h.node().equals(extra)
                                ? new Holder(extra, h.state(), NOW.minus(GRACE))
                                : h)
                    .toList(),
                List.of(),
                false,
                lowered.owners()));
    assertThat(dropped(later)).containsExactly(extra);
  }

  @Test
  void joiningNodeTakesNoOwnershipOfReplicatedLayers() {
    var layers = new ArrayList<LayerState>();
    for (int i = 0; i < 200; i++) {
      layers.add(layer("l" + i).present("n" + (i % 5), "n" + ((i + 1) % 5)).owners().build());
    }
    var decision =
        Placement.decide(
            new ClusterState(replicas(2), NOW, ready("n0", "n1", "n2", "n3", "n4", "n5"), layers));

    assertThat(decision.assignmentsFor("n5")).isEmpty();
  }

  @Test
  void sameInputInAnyOrderGivesSameDecision() {
    var members = new ArrayList<>(ready("n1", "n2", "n3", "n4", "n5"));
    var layers = new ArrayList<LayerState>();
    for (int i = 0; i < 50; i++) {
      layers.add(
          layer("l" + i)
              .present("n" + (1 + i % 5))
              .fetching("n" + (1 + (i + 2) % 5))
              .reads("n" + (1 + (i + 3) % 5), "n" + (1 + i % 5))
              .source()
              .build());
    }
    var decision = Placement.decide(new ClusterState(replicas(2), NOW, members, layers));
    Collections.reverse(members);
    Collections.reverse(layers);

    assertThat(Placement.decide(new ClusterState(replicas(2), NOW, members, layers)))
        .isEqualTo(decision);
  }

  @Test
  void decideLayersMatchesTheFullDecisionForThoseLayers() {
    var layers = new ArrayList<LayerState>();
    for (int i = 0; i < 30; i++) {
      layers.add(layer("l" + i).present("n" + (i % 4)).source().build());
    }
    var state = new ClusterState(replicas(2), NOW, ready("n0", "n1", "n2", "n3"), layers);
    var full = Placement.decide(state);
    var some = Placement.decideLayers(state, Set.of("sha256:l3", "sha256:l17"));

    assertThat(some.layers())
        .containsExactly(
            full.layer("sha256:l17").orElseThrow(), full.layer("sha256:l3").orElseThrow());
  }

  @Test
  void rejectsAHolderListedTwice() {
    assertThatThrownBy(() -> layer("a").present("n1", "n1").build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("n1");
  }
}
