package io.layerns.operator.testing;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.StoreEndpoints;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Nodes and node agents simulated on a real API server: Node objects with a Ready condition, and
 * agents that write their LayerStore status as the real agent does (status subresource, their own
 * field manager).
 */
public final class SimulatedCluster {
  private final KubernetesClient client;

  public SimulatedCluster(KubernetesClient client) {
    this.client = client;
  }

  public Node addNode(String name, Map<String, String> labels) {
    return io.layerns.testing.SimulatedNodes.addReady(client, name, labels);
  }

  public LayerStore awaitStore(String node) {
    return await("LayerStore " + node)
        .atMost(Duration.ofSeconds(60))
        .until(() -> client.resources(LayerStore.class).withName(node).get(), s -> s != null);
  }

  /** The node's agent reports what it holds and which volumes it publishes. */
  public void report(String node, List<HeldLayer> layers, List<PublishedVolume> volumes) {
    write(awaitStore(node), layers, volumes);
  }

  /**
   * As {@link #report}, but only if the node's store still exists: an agent reacting to its spec
   * must not wait for a store its node took with it when it was deleted.
   */
  public void reportIfStored(String node, List<HeldLayer> layers, List<PublishedVolume> volumes) {
    LayerStore store = client.resources(LayerStore.class).withName(node).get();
    if (store != null) {
      write(store, layers, volumes);
    }
  }

  /**
   * As {@link #report}, with the savings figures a real agent adds: bytes it fetched from peers and
   * registries, and the layers it pulled or read for itself and let go.
   */
  public void report(
      String node,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      long fromPeers,
      long fromRegistries,
      List<String> released) {
    write(awaitStore(node), layers, volumes, fromPeers, fromRegistries, released);
  }

  /**
   * As {@link #reportIfStored}, for an agent with a cold tier: its reports of the bucket copies it
   * keeps and its ColdTierReady condition.
   */
  public void reportIfStored(
      String node,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      List<ColdCopy> coldCopies,
      Condition coldTierReady) {
    LayerStore store = client.resources(LayerStore.class).withName(node).get();
    if (store != null) {
      write(store, layers, volumes, null, null, null, coldCopies, coldTierReady);
    }
  }

  private void write(LayerStore store, List<HeldLayer> layers, List<PublishedVolume> volumes) {
    write(store, layers, volumes, null, null, null);
  }

  private void write(
      LayerStore store,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      Long fromPeers,
      Long fromRegistries,
      List<String> released) {
    write(store, layers, volumes, fromPeers, fromRegistries, released, null, null);
  }

  private void write(
      LayerStore store,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      Long fromPeers,
      Long fromRegistries,
      List<String> released,
      List<ColdCopy> coldCopies,
      Condition coldTierReady) {
    List<Condition> conditions =
        Conditions.set(
            null, Conditions.READY, true, "Serving", "Agent serving.", null, Instant.now());
    if (coldTierReady != null) {
      conditions = new ArrayList<>(conditions);
      conditions.add(coldTierReady);
      conditions.sort(Comparator.comparing(Condition::getType));
    }
    long used =
        layers.stream()
            .filter(l -> l.state() == CopyState.Present)
            .mapToLong(HeldLayer::size)
            .sum();
    store.setStatus(
        new LayerStoreStatus(
            store.getMetadata().getGeneration(),
            new StoreEndpoints("http://127.0.1.1:7443", null, null, null),
            100L << 30,
            used,
            ByteSizes.format(100L << 30),
            ByteSizes.format(used),
            store.getSpec().layers() == null ? 0 : store.getSpec().layers().size(),
            (int) layers.stream().filter(l -> l.state() == CopyState.Present).count(),
            layers,
            volumes,
            volumes.size(),
            conditions,
            fromPeers,
            fromRegistries,
            released,
            coldCopies));
    store.getMetadata().setManagedFields(null);
    store
        .getMetadata()
        .setResourceVersion(null); // last writer wins, as for the one agent of a node
    client.resource(store).patchStatus();
  }

  public static HeldLayer present(String digest, long size) {
    return new HeldLayer(
        digest, size, "application/vnd.oci.image.layer.v1.tar+gzip", CopyState.Present, null);
  }

  public static HeldLayer present(String digest, long size, String source) {
    return new HeldLayer(
        digest, size, "application/vnd.oci.image.layer.v1.tar+gzip", CopyState.Present, source);
  }

  /** A digest made from a readable seed, for tests. */
  public static String digest(String seed) {
    try {
      var md = java.security.MessageDigest.getInstance("SHA-256");
      return "sha256:" + java.util.HexFormat.of().formatHex(md.digest(seed.getBytes()));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
