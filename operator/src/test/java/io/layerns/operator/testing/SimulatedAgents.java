package io.layerns.operator.testing;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.operator.status.StoreViews;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Node agents that obey their LayerStore spec the way the real agent does, without moving bytes: an
 * assigned layer becomes Present (as if fetched and verified), a held layer that is no longer
 * assigned and that no local volume reads is dropped. Reacts to spec changes through a watch. A
 * layer listed only for its bucket copy ({@link AssignedLayer#mustHold()} false) is not held for
 * that; the test plays the bucket, telling each agent what it reports of the copies it keeps.
 */
public final class SimulatedAgents implements AutoCloseable {
  private final KubernetesClient client;
  private final SimulatedCluster cluster;
  private final Map<String, Map<String, HeldLayer>> held = new ConcurrentHashMap<>();
  private final Map<String, List<PublishedVolume>> volumes = new ConcurrentHashMap<>();
  private final Map<String, Map<String, ColdCopy>> coldCopies = new ConcurrentHashMap<>();
  private final Map<String, Condition> coldTierReady = new ConcurrentHashMap<>();
  private final SharedIndexInformer<LayerStore> informer;

  public SimulatedAgents(KubernetesClient client) {
    this.client = client;
    this.cluster = new SimulatedCluster(client);
    this.informer =
        client
            .resources(LayerStore.class)
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(LayerStore store) {
                    obey(store);
                  }

                  @Override
                  public void onUpdate(LayerStore old, LayerStore store) {
                    if (old.getMetadata().getGeneration() != store.getMetadata().getGeneration()
                        || !java.util.Objects.equals(old.getSpec(), store.getSpec())) {
                      obey(store);
                    }
                  }

                  @Override
                  public void onDelete(LayerStore store, boolean unknown) {}
                });
  }

  /** The node imports layers from a registry: they become Present with that source. */
  public synchronized void importLayers(String node, List<HeldLayer> layers) {
    Map<String, HeldLayer> mine = held.computeIfAbsent(node, n -> new TreeMap<>());
    layers.forEach(l -> mine.put(l.digest(), l));
    report(node);
  }

  /**
   * The node reports what it found of a layer's bucket copy (as a cold-tier agent does for the
   * layers it keeps; the operator believes the report only from the layer's keeper).
   */
  public synchronized void reportColdCopy(
      String node, String digest, ColdCopyState state, String message) {
    coldCopies
        .computeIfAbsent(node, n -> new TreeMap<>())
        .put(digest, new ColdCopy(digest, state, message, Instant.now().toString()));
    coldTierReady.putIfAbsent(node, coldReady(true, "BucketReachable", "Bucket reachable."));
    report(node);
  }

  /** The node reports whether it reaches the bucket. */
  public synchronized void reportColdTierReady(String node, boolean ready, String message) {
    coldTierReady.put(
        node, coldReady(ready, ready ? "BucketReachable" : "BucketUnreachable", message));
    report(node);
  }

  private static Condition coldReady(boolean ready, String reason, String message) {
    return Conditions.set(
            null, Conditions.COLD_TIER_READY, ready, reason, message, null, Instant.now())
        .getFirst();
  }

  /** Sum of the Present copies' sizes, as the agents hold them now. */
  public synchronized long storedBytes(Set<String> nodes) {
    return held.entrySet().stream()
        .filter(e -> nodes.contains(e.getKey()))
        .flatMap(e -> e.getValue().values().stream())
        .filter(h -> h.state() == CopyState.Present)
        .mapToLong(HeldLayer::size)
        .sum();
  }

  private synchronized void obey(LayerStore store) {
    String node = StoreViews.node(store);
    Map<String, HeldLayer> mine = held.computeIfAbsent(node, n -> new TreeMap<>());
    Set<String> assigned = new HashSet<>();
    for (AssignedLayer a : StoreViews.assigned(store)) {
      if (!a.mustHold()) {
        continue;
      }
      assigned.add(a.digest());
      mine.computeIfAbsent(
          a.digest(), d -> new HeldLayer(d, a.size(), a.mediaType(), CopyState.Present, null));
    }
    Set<String> used = new HashSet<>();
    volumes
        .getOrDefault(node, List.of())
        .forEach(v -> StoreViews.layersOf(v).forEach(l -> used.add(l.digest())));
    mine.keySet().removeIf(d -> !assigned.contains(d) && !used.contains(d));
    List<HeldLayer> layers = new ArrayList<>(mine.values());
    layers.sort(Comparator.comparing(HeldLayer::digest));
    write(node, layers);
  }

  private void report(String node) {
    List<HeldLayer> layers = new ArrayList<>(held.getOrDefault(node, Map.of()).values());
    layers.sort(Comparator.comparing(HeldLayer::digest));
    cluster.awaitStore(node);
    write(node, layers);
  }

  private void write(String node, List<HeldLayer> layers) {
    Map<String, ColdCopy> cold = coldCopies.get(node);
    cluster.reportIfStored(
        node,
        layers,
        volumes.getOrDefault(node, List.of()),
        cold == null ? null : List.copyOf(cold.values()),
        coldTierReady.get(node));
  }

  @Override
  public void close() {
    informer.close();
  }
}
