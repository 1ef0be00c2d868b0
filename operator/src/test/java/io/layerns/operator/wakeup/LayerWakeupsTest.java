package io.layerns.operator.wakeup;

import static io.layerns.operator.wakeup.StoreChangesTest.held;
import static io.layerns.operator.wakeup.StoreChangesTest.owner;
import static io.layerns.operator.wakeup.StoreChangesTest.store;
import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LayerWakeupsTest {
  private static final String D1 = "sha256:" + "1".repeat(64);
  private static final String D2 = "sha256:" + "2".repeat(64);
  private static final String D3 = "sha256:" + "3".repeat(64);

  private final Set<String> existing = new HashSet<>();
  private final LayerWakeups wakeups = new LayerWakeups(existing::contains);

  @Test
  void aStoreEventWakesOnlyTheLayersItChanged() {
    existing.add("n1");
    wakeups.statusNames(D1, List.of("ns"));
    var v1 = store("n1", "ns", "1", List.of(held(D1, CopyState.Present)), List.of(), List.of());
    assertThat(wakeups.onStore(v1)).containsExactly(D1);

    var v2 =
        store(
            "n1",
            "ns",
            "2",
            List.of(held(D1, CopyState.Present), held(D2, CopyState.Fetching)),
            List.of(),
            List.of());
    assertThat(wakeups.onStore(v2)).containsExactly(D2);
    // JOSDK calls the mapper again for the same event (its own index): the same answer.
    assertThat(wakeups.onStore(v2)).containsExactly(D2);
    assertThat(LayerWakeups.layers(wakeups.onStore(v2)))
        .containsExactly(new ResourceID(CrdConstants.layerName(D2)));

    // The agent's status write that changed nothing the Layers show wakes none.
    var v3 =
        store(
            "n1",
            "ns",
            "3",
            List.of(held(D1, CopyState.Present), held(D2, CopyState.Fetching)),
            List.of(),
            List.of());
    assertThat(wakeups.onStore(v3)).isEmpty();
  }

  @Test
  void aStoreSeenFirstWakesOnlyLayersAlreadyReconciled() {
    // On a restart every Layer is reconciled by its own first event, after the store informer
    // synced: a store's first event need not wake those again. A node that joins later wakes the
    // Layers that were reconciled already, whose status must now count it.
    existing.add("n1");
    wakeups.statusNames(D2, List.of());
    var first =
        store(
            "n1",
            "ns",
            "1",
            List.of(held(D1, CopyState.Present), held(D2, CopyState.Present)),
            List.of(owner(D3)),
            List.of());
    assertThat(wakeups.onStore(first)).containsExactly(D2);
    // Once reconciled, a later change wakes it as any change does.
    wakeups.statusNames(D1, List.of("ns"));
    var second =
        store(
            "n1",
            "ns",
            "2",
            List.of(held(D1, CopyState.Fetching), held(D2, CopyState.Present)),
            List.of(owner(D3)),
            List.of());
    assertThat(wakeups.onStore(second)).containsExactly(D1);
    // A deleted Layer is forgotten: a new store naming it does not wake it.
    wakeups.forget(D2);
    existing.add("n2");
    assertThat(
            wakeups.onStore(
                store("n2", "ns", "3", List.of(held(D2, CopyState.Present)), List.of(), List.of())))
        .isEmpty();
  }

  @Test
  void aDeletedStoreWakesEveryLayerItNamed() {
    existing.add("n1");
    var v1 =
        store("n1", "ns", "1", List.of(held(D1, CopyState.Present)), List.of(owner(D2)), List.of());
    wakeups.onStore(v1);
    existing.remove("n1");
    // The delete event carries the last version seen; both calls for it answer every digest.
    assertThat(wakeups.onStore(v1)).containsExactlyInAnyOrder(D1, D2);
    assertThat(wakeups.onStore(v1)).containsExactlyInAnyOrder(D1, D2);
  }

  @Test
  void aNamespaceChangeWakesOnlyTheLayersWhoseStatusNamesIt() {
    wakeups.statusNames(D1, List.of("a"));
    wakeups.statusNames(D2, List.of("a", "b"));
    wakeups.statusNames(D3, List.of("b"));
    assertThat(wakeups.onNamespace("a")).containsExactlyInAnyOrder(D1, D2);
    assertThat(wakeups.onNamespace("b")).containsExactlyInAnyOrder(D2, D3);

    wakeups.statusNames(D2, List.of("b")); // D2 left namespace a
    wakeups.forget(D3); // D3's Layer was deleted
    assertThat(wakeups.onNamespace("a")).containsExactly(D1);
    assertThat(wakeups.onNamespace("b")).containsExactly(D2);
    assertThat(wakeups.onNamespace("unknown")).isEmpty();
  }

  @Test
  void aStoreSeenAgainAfterARelistWakesWhatChangedMeanwhile() {
    existing.add("n1");
    wakeups.onStore(
        store("n1", "ns", "1", List.of(held(D1, CopyState.Present)), List.of(), List.of()));
    HeldLayer d3 = held(D3, CopyState.Present);
    assertThat(wakeups.onStore(store("n1", "ns", "9", List.of(d3), List.of(), List.of())))
        .containsExactlyInAnyOrder(D1, D3);
  }
}
