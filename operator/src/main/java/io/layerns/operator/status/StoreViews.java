package io.layerns.operator.status;

import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/** Null-safe reads of a LayerStore's spec and status, which may be partly unset. */
public final class StoreViews {
  private StoreViews() {}

  public static String node(LayerStore store) {
    return store.getSpec() != null && store.getSpec().nodeName() != null
        ? store.getSpec().nodeName()
        : store.getMetadata().getName();
  }

  public static String namespace(LayerStore store) {
    return store.getSpec() == null ? null : store.getSpec().namespace();
  }

  public static List<HeldLayer> held(LayerStore store) {
    return store.getStatus() == null || store.getStatus().layers() == null
        ? List.of()
        : store.getStatus().layers();
  }

  public static List<AssignedLayer> assigned(LayerStore store) {
    return store.getSpec() == null || store.getSpec().layers() == null
        ? List.of()
        : store.getSpec().layers();
  }

  /** The bucket copies the node reports, for the layers it is the cold keeper of. */
  public static List<ColdCopy> coldCopies(LayerStore store) {
    return store.getStatus() == null || store.getStatus().coldCopies() == null
        ? List.of()
        : store.getStatus().coldCopies();
  }

  /**
   * The report of the layer's cold keeper: the member the operator marked as keeper in its spec,
   * and its own report of that digest. Empty when the store is not the keeper or has not reported
   * it; a report for a layer the node does not keep is never returned.
   */
  public static java.util.Optional<ColdCopy> keptColdCopy(LayerStore store, String digest) {
    if (assigned(store).stream().noneMatch(a -> digest.equals(a.digest()) && a.keepsColdCopy())) {
      return java.util.Optional.empty();
    }
    return coldCopies(store).stream().filter(c -> digest.equals(c.digest())).findFirst();
  }

  /** Whether the operator made this store's node the cold keeper of {@code digest}. */
  public static boolean keepsColdCopy(LayerStore store, String digest) {
    return assigned(store).stream().anyMatch(a -> digest.equals(a.digest()) && a.keepsColdCopy());
  }

  public static List<PublishedVolume> volumes(LayerStore store) {
    return store.getStatus() == null || store.getStatus().volumes() == null
        ? List.of()
        : store.getStatus().volumes();
  }

  public static List<VolumeLayer> layersOf(PublishedVolume volume) {
    return volume.layers() == null ? List.of() : volume.layers();
  }

  /** Every digest the store holds, is assigned, or has a published volume read. */
  public static Set<String> digests(LayerStore store) {
    Set<String> out = new TreeSet<>();
    held(store).forEach(l -> out.add(l.digest()));
    assigned(store).forEach(l -> out.add(l.digest()));
    volumes(store).stream()
        .flatMap(v -> layersOf(v).stream())
        .map(VolumeLayer::digest)
        .forEach(out::add);
    return out;
  }

  /** Digests read by this store's published volumes, whoever holds them. */
  public static Stream<String> usedDigests(LayerStore store) {
    return volumes(store).stream().flatMap(v -> layersOf(v).stream()).map(VolumeLayer::digest);
  }

  /** Layers the node pulled or read for itself and has let go since. */
  public static List<String> released(LayerStore store) {
    return store.getStatus() == null || store.getStatus().releasedLayers() == null
        ? List.of()
        : store.getStatus().releasedLayers();
  }

  /** Layer bytes the node has fetched from its peers, 0 when it does not say. */
  public static long fetchedFromPeers(LayerStore store) {
    return store.getStatus() == null || store.getStatus().fetchedFromPeersBytes() == null
        ? 0
        : store.getStatus().fetchedFromPeersBytes();
  }

  /** The message of the store's PreloadFailed condition while it is True. */
  public static java.util.Optional<String> failedPreloads(LayerStore store) {
    return store.getStatus() == null
        ? java.util.Optional.empty()
        : Conditions.find(store.getStatus().conditions(), Conditions.PRELOAD_FAILED)
            .filter(c -> "True".equals(c.getStatus()))
            .map(c -> c.getMessage());
  }

  public static boolean agentReady(LayerStore store) {
    return store.getStatus() != null
        && Conditions.isTrue(store.getStatus().conditions(), Conditions.READY);
  }
}
