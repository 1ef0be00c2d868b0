package io.layerns.operator.placement;

import static io.layerns.operator.placement.LayerBuilder.layer;
import static io.layerns.operator.placement.PlacementTest.GRACE;
import static io.layerns.operator.placement.PlacementTest.NOW;
import static io.layerns.operator.placement.PlacementTest.TIMEOUT;
import static io.layerns.operator.placement.PlacementTest.assignment;
import static io.layerns.operator.placement.PlacementTest.decideOne;
import static io.layerns.operator.placement.PlacementTest.dropped;
import static io.layerns.operator.placement.PlacementTest.ready;
import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.CopyState;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 20: a cold tier bucket keeps one copy of each layer; once its keeper confirms it, the layer
 * keeps coldTier.replicas node copies instead of replicas, and never loses its last node copy
 * before that.
 */
class ColdTierPlacementTest {
  /** Idle for longer than the grace period: such a copy goes as soon as nothing holds it back. */
  static final Instant LONG_IDLE = NOW.minus(GRACE).minusSeconds(1);

  static Policy cold(int replicas, int coldReplicas) {
    return new Policy(replicas, GRACE, TIMEOUT).withColdTier(coldReplicas);
  }

  static List<String> keepers(LayerDecision decision) {
    return decision.assignments().stream()
        .filter(Assignment::coldKeeper)
        .map(Assignment::node)
        .toList();
  }

  @Test
  void namesExactlyOneKeeperAmongThePresentHoldersAndKeepsReplicasUntilConfirmed() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2", "n3"),
            layer("a").present("n1", "n2").fetching("n3").owners("n1", "n2").build());

    assertThat(keepers(decision)).hasSize(1).first().isIn("n1", "n2");
    assertThat(decision.coldKeeper()).isEqualTo(keepers(decision).getFirst());
    assertThat(decision.coldConfirmed()).isFalse();
    assertThat(decision.wantedCopies()).isEqualTo(2);
    assertThat(decision.owners()).containsExactly("n1", "n2");
    assertThat(assignment(decision, decision.coldKeeper()).reason()).isEqualTo(Reason.Owner);
  }

  @Test
  void withoutAColdTierNobodyIsKeeper() {
    var decision =
        decideOne(
            PlacementTest.replicas(2),
            ready("n1", "n2"),
            layer("a").present("n1", "n2").owners("n1", "n2").build());

    assertThat(keepers(decision)).isEmpty();
    assertThat(decision.coldKeeper()).isNull();
  }

  @Test
  void theKeeperStaysPutWhileItHoldsACopy() {
    var members = ready("n1", "n2", "n3", "n4");
    for (String keeper : List.of("n1", "n2")) {
      var decision =
          decideOne(
              cold(2, 1),
              members,
              layer("a").present("n1", "n2", "n4").owners("n1", "n2").coldKeeper(keeper).build());
      assertThat(keepers(decision)).containsExactly(keeper);
    }
  }

  @Test
  void aDepartedKeeperIsReplacedByAPresentHolder() {
    var decision =
        decideOne(
            cold(2, 1),
            ready("n1", "n2"),
            layer("a")
                .present("n1", "n2")
                .owners("n1", "n2")
                .coldKeeper("gone")
                .cold("gone", ColdCopyState.Confirmed)
                .build());

    assertThat(keepers(decision)).hasSize(1).first().isIn("n1", "n2");
    assertThat(decision.coldConfirmed()).as("the new keeper has not looked yet").isFalse();
    assertThat(decision.owners()).hasSize(2);
  }

  @Test
  void aConfirmedBucketCopyLetsTheLayerKeepColdReplicasAndTheKeeperKeepsItsCopy() {
    var members = ready("n1", "n2", "n3");
    for (String keeper : List.of("n1", "n2")) {
      String other = keeper.equals("n1") ? "n2" : "n1";
      var decision =
          decideOne(
              cold(2, 1),
              members,
              layer("a")
                  .present(keeper)
                  .idle(other, CopyState.Present, LONG_IDLE)
                  .owners("n1", "n2")
                  .coldKeeper(keeper)
                  .cold(keeper, ColdCopyState.Confirmed)
                  .build());

      assertThat(decision.coldConfirmed()).isTrue();
      assertThat(decision.wantedCopies()).isEqualTo(1);
      assertThat(decision.owners()).containsExactly(keeper);
      assertThat(dropped(decision)).containsExactly(other);
      assertThat(decision.health()).isEqualTo(LayerHealth.Replicated);
    }
  }

  @Test
  void coldReplicasZeroKeepsTheLayerOnlyInTheBucketWithTheKeeperStillListed() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a")
                .idle("n1", CopyState.Present, LONG_IDLE)
                .idle("n2", CopyState.Present, LONG_IDLE)
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Confirmed)
                .build());

    assertThat(decision.owners()).isEmpty();
    assertThat(dropped(decision)).containsExactly("n1", "n2");
    Assignment keeper = assignment(decision, "n1");
    assertThat(keeper.reason()).isEqualTo(Reason.ColdKeeper);
    assertThat(keeper.coldKeeper()).isTrue();
    assertThat(keeper.fetch()).isFalse();
    assertThat(decision.health()).isEqualTo(LayerHealth.Replicated);
  }

  @Test
  void aCopyStillInGraceIsKeptEvenWhenTheBucketCopyIsConfirmed() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a")
                .present("n1", "n2")
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Confirmed)
                .build());

    assertThat(dropped(decision)).isEmpty();
    assertThat(assignment(decision, "n1").reason()).isEqualTo(Reason.GracePeriod);
    assertThat(assignment(decision, "n1").coldKeeper()).isTrue();
    assertThat(assignment(decision, "n2").reason()).isEqualTo(Reason.GracePeriod);
  }

  @Test
  void aLayerOnlyInTheBucketIsNotLostAndNobodyFetchesIt() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a").coldKeeper("n1").cold("n1", ColdCopyState.Confirmed).build());

    assertThat(decision.health()).isEqualTo(LayerHealth.Replicated);
    assertThat(decision.owners()).isEmpty();
    assertThat(decision.assignments()).extracting(Assignment::node).containsExactly("n1");
    assertThat(assignment(decision, "n1").reason()).isEqualTo(Reason.ColdKeeper);
  }

  @Test
  void aBucketCopyFoundCorruptBringsTheNodeCopiesBack() {
    var decision =
        decideOne(
            cold(2, 1),
            ready("n1", "n2", "n3"),
            layer("a")
                .present("n1")
                .owners("n1")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Corrupt)
                .build());

    assertThat(decision.wantedCopies()).isEqualTo(2);
    assertThat(decision.owners()).hasSize(2).contains("n1");
    String newOwner = decision.owners().stream().filter(o -> !o.equals("n1")).findFirst().get();
    assertThat(assignment(decision, newOwner).fetch()).isTrue();
    assertThat(assignment(decision, newOwner).peers()).containsExactly("n1");
    assertThat(keepers(decision)).containsExactly("n1");
    assertThat(decision.health()).isEqualTo(LayerHealth.UnderReplicated);
  }

  @Test
  void aMissingBucketCopyOfALayerNoNodeHoldsIsLost() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a").coldKeeper("n1").cold("n1", ColdCopyState.Missing).build());

    assertThat(decision.health()).isEqualTo(LayerHealth.Lost);
  }

  @Test
  void aBucketOnlyLayerWhoseKeeperLeftGetsANewKeeperAndIsFetchedMeanwhile() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a").coldKeeper("gone").cold("gone", ColdCopyState.Confirmed).build());

    assertThat(keepers(decision)).hasSize(1);
    assertThat(decision.health()).as("the bucket may hold it").isNotEqualTo(LayerHealth.Lost);
    assertThat(decision.owners()).hasSize(2);
    assertThat(decision.assignments().stream().filter(Assignment::fetch)).hasSize(2);
  }

  // The attack-ish cases: nothing but the keeper's own Confirmed report lets a copy go.

  @Test
  void aFailedBucketCopyDropsNothingBelowReplicas() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2"),
            layer("a")
                .idle("n1", CopyState.Present, LONG_IDLE)
                .present("n2")
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Failed)
                .build());

    assertThat(decision.owners()).containsExactly("n1", "n2");
    assertThat(decision.drops()).isEmpty();
  }

  @Test
  void neverDropsTheLastNodeCopyBeforeTheBucketCopyIsConfirmed() {
    for (ColdCopyState state :
        new ColdCopyState[] {null, ColdCopyState.Missing, ColdCopyState.Corrupt}) {
      var builder =
          layer("a").idle("n1", CopyState.Present, NOW.minus(Duration.ofDays(1))).coldKeeper("n1");
      if (state != null) {
        builder.cold("n1", state);
      }
      var decision = decideOne(cold(1, 0), ready("n1", "n2"), builder.build());

      assertThat(decision.drops()).as("report %s", state).isEmpty();
      assertThat(decision.owners()).as("report %s", state).containsExactly("n1");
    }
  }

  @Test
  void aConfirmationFromANodeThatIsNotTheKeeperIsIgnored() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2", "n3"),
            layer("a")
                .idle("n1", CopyState.Present, LONG_IDLE)
                .idle("n2", CopyState.Present, LONG_IDLE)
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n2", ColdCopyState.Confirmed)
                .cold("n3", ColdCopyState.Confirmed)
                .build());

    assertThat(keepers(decision)).containsExactly("n1");
    assertThat(decision.coldConfirmed()).isFalse();
    assertThat(decision.owners()).containsExactly("n1", "n2");
    assertThat(decision.drops()).isEmpty();
  }

  @Test
  void aConfirmationFromANonMemberIsIgnoredAndItCannotBecomeKeeper() {
    var decision =
        decideOne(
            cold(1, 0),
            ready("n1"),
            layer("a")
                .idle("n1", CopyState.Present, LONG_IDLE)
                .owners("n1")
                .coldKeeper("intruder")
                .cold("intruder", ColdCopyState.Confirmed)
                .build());

    assertThat(keepers(decision)).containsExactly("n1");
    assertThat(decision.coldConfirmed()).isFalse();
    assertThat(decision.owners()).containsExactly("n1");
    assertThat(decision.drops()).isEmpty();
  }

  @Test
  void aCopyAVolumeUsesStaysWhenTheBucketCopyIsConfirmed() {
    var decision =
        decideOne(
            cold(2, 0),
            ready("n1", "n2", "n3"),
            layer("a")
                .idle("n1", CopyState.Present, LONG_IDLE)
                .idle("n2", CopyState.Present, LONG_IDLE)
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Confirmed)
                .reads("n3", "n2")
                .build());

    assertThat(dropped(decision)).containsExactly("n1");
    assertThat(assignment(decision, "n2").reason()).isEqualTo(Reason.InUse);
  }

  @Test
  void aNotReadyKeeperKeepsItsRoleAndItsConfirmationUntilTheTimeout() {
    var members = new ArrayList<>(ready("n2"));
    members.add(new Member("n1", false, NOW.minusSeconds(60), Member.UNLIMITED, 0));
    var decision =
        decideOne(
            cold(2, 1),
            members,
            layer("a")
                .present("n1", "n2")
                .owners("n1", "n2")
                .coldKeeper("n1")
                .cold("n1", ColdCopyState.Confirmed)
                .build());

    assertThat(keepers(decision)).containsExactly("n1");
    assertThat(decision.coldConfirmed()).isTrue();
    assertThat(dropped(decision)).as("n1 is not Ready: nothing goes behind its back").isEmpty();
  }
}
