package io.layerns.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class NamespaceAggregatorTest {
  private static final Instant NOW = Instant.parse("2026-11-28T12:00:00Z");

  private static LayerStore store(
      String node, List<HeldLayer> held, List<PublishedVolume> volumes) {
    LayerStore s = new LayerStore();
    s.setMetadata(new ObjectMetaBuilder().withName(node).build());
    s.setSpec(new LayerStoreSpec(node, "ns", null, null, null, null, null));
    s.setStatus(
        new LayerStoreStatus(
            1L,
            null,
            null,
            null,
            null,
            null,
            0,
            held.size(),
            held,
            volumes,
            volumes.size(),
            Conditions.set(null, "Ready", true, "Serving", "", 1L, NOW)));
    return s;
  }

  private static HeldLayer held(String digest, long size, CopyState state) {
    return new HeldLayer(digest, size, null, state, null);
  }

  @Test
  void countsStoredUniqueDedupUnderReplicatedAndLost() {
    var a =
        store(
            "a",
            List.of(held("d1", 100, CopyState.Present), held("d2", 10, CopyState.Present)),
            List.of());
    var b =
        store(
            "b",
            List.of(held("d1", 100, CopyState.Present), held("d3", 5, CopyState.Failed)),
            // b reads d2 remotely from a
            List.of(new PublishedVolume("v", "p/q", "img", List.of(new VolumeLayer("d2", "a")))));
    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                3L,
                2,
                new TreeSet<>(List.of("a", "b")),
                List.of(),
                n -> true,
                List.of(a, b),
                Set.of(),
                null),
            NOW);

    assertThat(status.storedBytes()).isEqualTo(210);
    assertThat(status.uniqueBytes()).isEqualTo(110);
    // without layerns: a keeps d1+d2, b keeps d1+d2 (it reads d2) = 220 over 210 stored
    assertThat(status.dedupRatio()).isEqualTo("1.05");
    assertThat(status.layerCount()).isEqualTo(3);
    assertThat(status.underReplicatedLayers()).isEqualTo(2); // d2 has 1 copy, d3 none
    assertThat(status.lostLayers()).isEqualTo(1); // d3: no copy, not fetching, no source
    assertThat(status.nodeSummary()).isEqualTo("2/2");
    assertThat(Conditions.find(status.conditions(), "Ready").orElseThrow().getReason())
        .isEqualTo("LayersLost");
  }

  /** A store that also reports what it fetched from peers and the layers it let go. */
  private static LayerStore storeWithSavings(
      String node,
      List<HeldLayer> held,
      List<PublishedVolume> volumes,
      long fromPeers,
      List<String> released) {
    LayerStoreStatus s = store(node, held, volumes).getStatus();
    LayerStore out = store(node, held, volumes);
    out.setStatus(
        new LayerStoreStatus(
            s.observedGeneration(),
            s.endpoints(),
            s.capacityBytes(),
            s.usedBytes(),
            s.capacitySize(),
            s.usedSize(),
            s.assignedLayers(),
            s.heldLayers(),
            s.layers(),
            s.volumes(),
            s.volumeCount(),
            s.conditions(),
            fromPeers,
            1000L,
            released));
    return out;
  }

  @Test
  void savingsCountWhatEachNodeWouldKeepOfItsOwnAgainstWhatIsStored() {
    // Three nodes pulled the same image (d1 100 B, d2 10 B); dedup (replicas 1) left one copy of
    // each: d1 on a, d2 on b. c released both; b released d1 but reads it remotely from a.
    var a =
        storeWithSavings("a", List.of(held("d1", 100, CopyState.Present)), List.of(), 0, List.of());
    var b =
        storeWithSavings(
            "b",
            List.of(held("d2", 10, CopyState.Present)),
            List.of(new PublishedVolume("v", "p/q", "img", List.of(new VolumeLayer("d1", "a")))),
            100,
            List.of("d1"));
    // c also let go of d9, which nobody stores any more: not counted.
    var c = storeWithSavings("c", List.of(), List.of(), 10, List.of("d1", "d2", "d9"));
    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                3L,
                1,
                new TreeSet<>(List.of("a", "b", "c")),
                List.of(),
                n -> true,
                List.of(a, b, c),
                Set.of(),
                null),
            NOW);

    assertThat(status.storedBytes()).isEqualTo(110);
    // a: d1 (100); b: d2 + d1 (read, and released: counted once) (110); c: d1 + d2 (110)
    assertThat(status.privateCopiesBytes()).isEqualTo(320);
    assertThat(status.privateCopiesSize()).isEqualTo("320B");
    assertThat(status.savedBytes()).isEqualTo(210);
    assertThat(status.savedSize()).isEqualTo("210B");
    assertThat(status.dedupRatio()).isEqualTo("2.91");
    assertThat(status.registryBytesAvoided()).isEqualTo(110);
    assertThat(status.registryBytesAvoidedSize()).isEqualTo("110B");
  }

  @Test
  void storesThatReportNoSavingsCountOnlyWhatTheyHoldAndRead() {
    var a = store("a", List.of(held("d1", 2048, CopyState.Present)), List.of());
    var status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                1L,
                1,
                new TreeSet<>(List.of("a")),
                List.of(),
                n -> true,
                List.of(a),
                Set.of(),
                null),
            NOW);
    assertThat(status.privateCopiesBytes()).isEqualTo(2048);
    assertThat(status.savedBytes()).isZero();
    assertThat(status.savedSize()).isEqualTo("0B");
    assertThat(status.registryBytesAvoided()).isZero();
    assertThat(status.dedupRatio()).isEqualTo("1.00");
  }

  @Test
  void sameObservationGivesAnEqualStatusSoNothingIsWritten() {
    var a = store("a", List.of(held("d1", 100, CopyState.Present)), List.of());
    var input =
        new NamespaceAggregator.Input(
            1L, 1, new TreeSet<>(List.of("a")), List.of(), n -> true, List.of(a), Set.of(), null);
    var first = NamespaceAggregator.compute(input, NOW);
    var again =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                1L,
                1,
                new TreeSet<>(List.of("a")),
                List.of(),
                n -> true,
                List.of(a),
                Set.of(),
                first),
            NOW.plusSeconds(60));
    assertThat(again).isEqualTo(first);
  }

  @Test
  void namespaceIsNotReadyWhileAMemberFailsToPreloadNamingNodeAndImage() {
    var failing = store("a", List.of(), List.of());
    failing
        .getStatus()
        .conditions()
        .addAll(
            Conditions.set(
                    null,
                    Conditions.PRELOAD_FAILED,
                    true,
                    "ImportFailed",
                    "1 images could not be preloaded: r:5000/app:1 (connection refused);",
                    1L,
                    NOW)
                .stream()
                .toList());
    var fine = store("b", List.of(), List.of());
    var input =
        new NamespaceAggregator.Input(
            1L,
            1,
            new TreeSet<>(List.of("a", "b")),
            List.of(),
            n -> true,
            List.of(failing, fine),
            Set.of(),
            null);
    var status = NamespaceAggregator.compute(input, NOW);
    var ready = Conditions.find(status.conditions(), Conditions.READY).orElseThrow();
    assertThat(ready.getStatus()).isEqualTo("False");
    assertThat(ready.getReason()).isEqualTo(NamespaceAggregator.PRELOADS_FAILED);
    assertThat(ready.getMessage())
        .contains("a: 1 images could not be preloaded: r:5000/app:1 (connection refused)")
        .doesNotContain("b:");
  }
}
