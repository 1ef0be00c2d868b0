package io.layerns.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStatus;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Issue 20: how the keeper's bucket copy reports show on the Layer and the LayerNamespace. */
class ColdTierAggregationTest {
  private static final Instant NOW = Instant.parse("2026-12-04T12:00:00Z");
  private static final String D1 = "sha256:" + "a".repeat(64);
  private static final String D2 = "sha256:" + "b".repeat(64);
  private static final ColdTier COLD =
      new ColdTier("http://127.0.0.1:8333", "layers", null, null, null, "s3-credentials", 0);

  /** A member store: what it holds, which digests it keeps cold, what it reports of them. */
  private static LayerStore store(
      String node,
      List<HeldLayer> held,
      Set<String> keeps,
      List<ColdCopy> reports,
      Boolean coldTierReady) {
    List<AssignedLayer> assigned = new ArrayList<>();
    for (HeldLayer h : held) {
      assigned.add(
          new AssignedLayer(
              h.digest(),
              h.size(),
              null,
              null,
              null,
              "Owner",
              null,
              null,
              keeps.contains(h.digest()) ? true : null));
    }
    for (String digest : keeps) {
      if (held.stream().noneMatch(h -> h.digest().equals(digest))) {
        assigned.add(
            new AssignedLayer(
                digest,
                100L,
                null,
                null,
                null,
                AssignedLayer.REASON_COLD_KEEPER,
                null,
                null,
                true));
      }
    }
    List<Condition> conditions = Conditions.set(null, "Ready", true, "Serving", "", 1L, NOW);
    if (coldTierReady != null) {
      conditions =
          Conditions.set(
              conditions,
              Conditions.COLD_TIER_READY,
              coldTierReady,
              coldTierReady ? "BucketReachable" : "AccessDenied",
              coldTierReady ? "" : "the bucket refused the credentials",
              1L,
              NOW);
    }
    LayerStore s = new LayerStore();
    s.setMetadata(new ObjectMetaBuilder().withName(node).build());
    s.setSpec(new LayerStoreSpec(node, "ns", null, null, assigned, null, null, COLD));
    s.setStatus(
        new LayerStoreStatus(
            1L,
            null,
            null,
            null,
            null,
            null,
            assigned.size(),
            held.size(),
            held,
            List.of(),
            0,
            conditions,
            null,
            null,
            null,
            reports));
    return s;
  }

  private static HeldLayer present(String digest) {
    return new HeldLayer(digest, 100L, null, CopyState.Present, null);
  }

  private static ColdCopy report(String digest, ColdCopyState state) {
    return new ColdCopy(digest, state, null, NOW.toString());
  }

  private static LayerStatus layer(String digest, List<LayerStore> stores) {
    return LayerAggregator.compute(
        digest, stores, Map.of("ns", 2), Map.of("ns", 0), false, null, 1L, NOW);
  }

  @Test
  void aLayerOnlyInTheBucketIsAvailableAndNotLost() {
    var keeper =
        store("n1", List.of(), Set.of(D1), List.of(report(D1, ColdCopyState.Confirmed)), true);

    LayerStatus status = layer(D1, List.of(keeper));

    assertThat(status.coldCopy().state()).isEqualTo(ColdCopyState.Confirmed);
    assertThat(status.coldCopy().node()).isEqualTo("n1");
    assertThat(status.copies()).isZero();
    assertThat(status.holderSummary()).isEqualTo("<none>");
    assertThat(Conditions.isTrue(status.conditions(), LayerAggregator.LOST)).isFalse();
    assertThat(Conditions.isTrue(status.conditions(), LayerAggregator.AVAILABLE)).isTrue();
    assertThat(Conditions.isTrue(status.conditions(), Conditions.READY)).isTrue();
  }

  @Test
  void aCorruptBucketCopyOfALayerNoNodeHoldsIsLost() {
    var keeper =
        store("n1", List.of(), Set.of(D1), List.of(report(D1, ColdCopyState.Corrupt)), true);

    LayerStatus status = layer(D1, List.of(keeper));

    assertThat(status.coldCopy().state()).isEqualTo(ColdCopyState.Corrupt);
    assertThat(Conditions.isTrue(status.conditions(), LayerAggregator.LOST)).isTrue();
  }

  @Test
  void onlyTheKeepersReportShowsOnTheLayer() {
    var keeper = store("n1", List.of(present(D1)), Set.of(D1), List.of(), true);
    var other =
        store(
            "n2",
            List.of(present(D1)),
            Set.of(),
            List.of(report(D1, ColdCopyState.Confirmed)),
            true);

    LayerStatus status = layer(D1, List.of(keeper, other));

    assertThat(status.coldCopy().node()).isEqualTo("n1");
    assertThat(status.coldCopy().state()).as("the keeper has not reported yet").isNull();
    assertThat(status.holderSummary()).isEqualTo("n1,n2");
  }

  @Test
  void aConfirmedLayerWithColdReplicasIsNotUnderReplicated() {
    var keeper =
        store(
            "n1",
            List.of(present(D1)),
            Set.of(D1),
            List.of(report(D1, ColdCopyState.Confirmed)),
            true);

    LayerStatus status = layer(D1, List.of(keeper));

    assertThat(Conditions.isTrue(status.conditions(), LayerAggregator.REPLICATED)).isTrue();
  }

  @Test
  void theNamespaceCountsConfirmedLayersAndSaysWhatIsWrongWithTheBucket() {
    var n1 =
        store(
            "n1",
            List.of(present(D2)),
            Set.of(D1, D2),
            List.of(report(D1, ColdCopyState.Confirmed), report(D2, ColdCopyState.Missing)),
            true);
    var n2 = store("n2", List.of(present(D2)), Set.of(), List.of(), false);

    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                1L,
                2,
                new TreeSet<>(List.of("n1", "n2")),
                List.of(),
                n -> true,
                List.of(n1, n2),
                Set.of(),
                null,
                COLD),
            NOW);

    assertThat(status.coldLayers()).isEqualTo(1);
    assertThat(status.coldBytes()).isEqualTo(100);
    assertThat(status.coldSize()).isNotBlank();
    assertThat(status.lostLayers()).as("D1 is in the bucket").isZero();
    assertThat(status.underReplicatedLayers()).as("D2 is not confirmed: 2 of 2 wanted").isZero();
    Condition cold = Conditions.find(status.conditions(), Conditions.COLD_TIER_READY).orElseThrow();
    assertThat(cold.getStatus()).isEqualTo("False");
    assertThat(cold.getReason()).isEqualTo("BucketUnreachable");
    assertThat(cold.getMessage()).contains("n2", "credentials", D2, "Missing");
  }

  @Test
  void theNamespaceColdTierIsReadyWhenEveryMemberReachesTheBucketAndCopiesAreConfirmed() {
    var n1 =
        store(
            "n1",
            List.of(present(D1)),
            Set.of(D1),
            List.of(report(D1, ColdCopyState.Confirmed)),
            true);

    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                1L,
                2,
                new TreeSet<>(List.of("n1")),
                List.of(),
                n -> true,
                List.of(n1),
                Set.of(),
                null,
                COLD),
            NOW);

    assertThat(Conditions.isTrue(status.conditions(), Conditions.COLD_TIER_READY)).isTrue();
    assertThat(status.underReplicatedLayers()).isZero();
  }

  @Test
  void withoutAColdTierNothingColdIsReported() {
    var n1 =
        store(
            "n1",
            List.of(present(D1)),
            Set.of(D1),
            List.of(report(D1, ColdCopyState.Confirmed)),
            true);

    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                1L,
                2,
                new TreeSet<>(List.of("n1")),
                List.of(),
                n -> true,
                List.of(n1),
                Set.of(),
                null),
            NOW);

    assertThat(status.coldLayers()).isNull();
    assertThat(Conditions.find(status.conditions(), Conditions.COLD_TIER_READY)).isEmpty();
    assertThat(status.underReplicatedLayers()).isEqualTo(1);
  }
}
