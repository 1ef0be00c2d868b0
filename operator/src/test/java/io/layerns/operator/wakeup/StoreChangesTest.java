package io.layerns.operator.wakeup;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import java.util.List;
import org.junit.jupiter.api.Test;

class StoreChangesTest {
  static LayerStore store(
      String node,
      String namespace,
      String version,
      List<HeldLayer> held,
      List<AssignedLayer> assigned,
      List<PublishedVolume> volumes) {
    LayerStore s = new LayerStore();
    s.setMetadata(new ObjectMetaBuilder().withName(node).withResourceVersion(version).build());
    s.setSpec(
        new LayerStoreSpec(
            node, namespace, null, null, assigned.isEmpty() ? null : assigned, null, null));
    s.setStatus(
        new LayerStoreStatus(
            1L, null, null, null, null, null, 0, held.size(), held, volumes, volumes.size(), null));
    return s;
  }

  static HeldLayer held(String digest, CopyState state) {
    return new HeldLayer(digest, 10L, null, state, null);
  }

  static AssignedLayer owner(String digest) {
    return new AssignedLayer(digest, 10L, null, null, null, "Owner", null);
  }

  static AssignedLayer kept(String digest, String reason) {
    return new AssignedLayer(digest, 10L, null, null, null, reason, null);
  }

  static PublishedVolume volume(String id, VolumeLayer... layers) {
    return new PublishedVolume(id, "pods/" + id, "img", List.of(layers));
  }

  private static StoreChanges.View view(LayerStore s) {
    return StoreChanges.View.of(s);
  }

  @Test
  void aFirstSeenStoreChangesEveryDigestItNames() {
    var s =
        store(
            "n1",
            "ns",
            "1",
            List.of(held("d1", CopyState.Present)),
            List.of(owner("d2")),
            List.of(volume("v", new VolumeLayer("d3", "n2"))));
    assertThat(StoreChanges.changed(null, view(s))).containsExactlyInAnyOrder("d1", "d2", "d3");
    assertThat(StoreChanges.changed(view(s), null)).containsExactlyInAnyOrder("d1", "d2", "d3");
  }

  @Test
  void anAgentReportingOneNewLayerChangesOnlyThatDigest() {
    List<HeldLayer> many = new java.util.ArrayList<>();
    for (int i = 0; i < 70; i++) {
      many.add(held("d" + i, CopyState.Present));
    }
    var before = store("n1", "ns", "1", many, List.of(), List.of());
    List<HeldLayer> more = new java.util.ArrayList<>(many);
    more.add(held("new", CopyState.Fetching));
    var after = store("n1", "ns", "2", more, List.of(), List.of());
    assertThat(StoreChanges.changed(view(before), view(after))).containsExactly("new");
  }

  @Test
  void stateSizeAndRemovalOfHeldCopiesAreChanges() {
    var before =
        store(
            "n1",
            "ns",
            "1",
            List.of(
                held("fetching", CopyState.Fetching),
                held("same", CopyState.Present),
                held("dropped", CopyState.Present),
                new HeldLayer("resized", 10L, null, CopyState.Present, null)),
            List.of(),
            List.of());
    var after =
        store(
            "n1",
            "ns",
            "2",
            List.of(
                held("fetching", CopyState.Present),
                held("same", CopyState.Present),
                new HeldLayer("resized", 20L, null, CopyState.Present, null)),
            List.of(),
            List.of());
    assertThat(StoreChanges.changed(view(before), view(after)))
        .containsExactlyInAnyOrder("fetching", "dropped", "resized");
  }

  @Test
  void assignmentChangesCountOnlyWhereOwnershipOrPresenceChanges() {
    var before =
        store(
            "n1",
            "ns",
            "1",
            List.of(),
            List.of(owner("a"), owner("b"), kept("c", "GracePeriod"), kept("d", "InUse")),
            List.of());
    var after =
        store(
            "n1",
            "ns",
            "2",
            List.of(),
            // a stays owner; b is no longer owner but kept; c is gone; d InUse -> GracePeriod
            // (still not an owner: no Layer status change); e is new.
            List.of(
                owner("a"), kept("b", "AwaitingReplacement"), kept("d", "GracePeriod"), owner("e")),
            List.of());
    assertThat(StoreChanges.changed(view(before), view(after)))
        .containsExactlyInAnyOrder("b", "c", "e");
  }

  @Test
  void volumeReadsChangeTheirDigests() {
    var before =
        store(
            "n1",
            "ns",
            "1",
            List.of(),
            List.of(),
            List.of(volume("v1", new VolumeLayer("a", null), new VolumeLayer("b", "n2"))));
    var after =
        store(
            "n1",
            "ns",
            "2",
            List.of(),
            List.of(),
            List.of(
                // b now read from a local copy; a gains a second volume; c is new
                volume("v1", new VolumeLayer("a", null), new VolumeLayer("b", null)),
                volume("v2", new VolumeLayer("a", "n1"), new VolumeLayer("c", "n3"))));
    assertThat(StoreChanges.changed(view(before), view(after)))
        .containsExactlyInAnyOrder("a", "b", "c");
  }

  @Test
  void aStoreMovingToAnotherNamespaceChangesEverything() {
    var before =
        store(
            "n1", "ns", "1", List.of(held("a", CopyState.Present)), List.of(owner("b")), List.of());
    var after =
        store(
            "n1",
            "other",
            "2",
            List.of(held("a", CopyState.Present)),
            List.of(owner("b")),
            List.of());
    assertThat(StoreChanges.changed(view(before), view(after))).containsExactlyInAnyOrder("a", "b");
  }

  @Test
  void anUnchangedStoreChangesNothing() {
    var s =
        store(
            "n1", "ns", "1", List.of(held("a", CopyState.Present)), List.of(owner("a")), List.of());
    var again =
        store(
            "n1", "ns", "7", List.of(held("a", CopyState.Present)), List.of(owner("a")), List.of());
    assertThat(StoreChanges.changed(view(s), view(again))).isEmpty();
  }
}
