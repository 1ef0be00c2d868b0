package io.layerns.bench;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.StoreEndpoints;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plain Node objects and lightweight node agents on a real API server. Each agent obeys its
 * LayerStore spec as the real agent does, without moving bytes: an assigned layer becomes Present
 * at once (the fetch itself is what the publish benchmark measures), a copy the spec listed before
 * and no longer lists is dropped, and the agent writes its status once per spec generation, as the
 * real one does. One raw watch serves all agents and keeps no cache, so the benchmark's heap stays
 * small next to the operator's it measures.
 */
final class BenchAgents implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(BenchAgents.class);
  static final long CAPACITY = 100L << 30;

  private final KubernetesClient client;
  private final Map<String, Agent> agents = new ConcurrentHashMap<>();
  private final Map<String, Instant> storeDeleted = new ConcurrentHashMap<>();
  // Writers are bounded: 1,000 agents each with a thread would measure the scheduler, not the API.
  private final ExecutorService writers = Executors.newFixedThreadPool(8);
  private final AtomicLong statusWrites = new AtomicLong();
  private volatile Watch watch;
  private volatile boolean closed;

  /** One simulated node agent's memory: what it holds and what its spec ever listed. */
  private static final class Agent {
    final String node;
    final TreeMap<String, HeldLayer> held = new TreeMap<>();
    final Set<String> seenInSpec = new HashSet<>();
    long actedOnGeneration = -1;
    LayerStore latest;
    boolean queued;

    Agent(String node) {
      this.node = node;
    }
  }

  BenchAgents(KubernetesClient client) {
    this.client = client;
  }

  /**
   * Creates Ready nodes with a bounded pool: a create and a status write each, as a kubelet does.
   */
  static void createNodes(KubernetesClient client, List<String> names, int threads) {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (String name : names) {
        done.add(
            pool.submit(
                () ->
                    io.layerns.testing.SimulatedNodes.addReady(client, name, java.util.Map.of())));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } catch (Exception e) {
      throw new IllegalStateException("could not create nodes", e);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Gives {@code node} an agent holding {@code layers}; it reports them once its store exists. */
  void addAgent(String node, List<HeldLayer> layers) {
    Agent a = new Agent(node);
    layers.forEach(l -> a.held.put(l.digest(), l));
    agents.put(node, a);
  }

  void start() {
    watch = client.resources(LayerStore.class).watch(new StoreWatcher());
  }

  /** The node imports an image: its layers become Present and the agent reports at once. */
  void importLayers(String node, List<HeldLayer> layers) {
    Agent a = agents.get(node);
    synchronized (a) {
      layers.forEach(l -> a.held.put(l.digest(), l));
      if (a.latest != null) {
        writers.execute(() -> report(a));
      }
    }
  }

  /** Forgets a node's agent, as when the node is deleted with its disk. */
  void removeAgent(String node) {
    agents.remove(node);
  }

  /** What a node's agent holds now (the benchmark's own record, independent of the operator). */
  Map<String, Long> held(String node) {
    Agent a = agents.get(node);
    synchronized (a) {
      Map<String, Long> out = new HashMap<>();
      a.held.values().forEach(h -> out.put(h.digest(), h.size()));
      return out;
    }
  }

  /** Bytes all agents hold now, counting every copy: what the nodes' disks really store. */
  long heldBytes() {
    long total = 0;
    for (Agent a : agents.values()) {
      synchronized (a) {
        total += a.held.values().stream().mapToLong(HeldLayer::size).sum();
      }
    }
    return total;
  }

  /** When the node's LayerStore was deleted, if it was. */
  Instant storeDeletedAt(String node) {
    return storeDeleted.get(node);
  }

  long statusWrites() {
    return statusWrites.get();
  }

  private final class StoreWatcher implements Watcher<LayerStore> {
    @Override
    public void eventReceived(Action action, LayerStore store) {
      String node = store.getMetadata().getName();
      if (action == Action.DELETED) {
        storeDeleted.put(node, Instant.now());
      }
      Agent a = agents.get(node);
      if (a == null) {
        return;
      }
      synchronized (a) {
        a.latest = action == Action.DELETED ? null : store;
        if (a.latest != null
            && store.getMetadata().getGeneration() != a.actedOnGeneration
            && !a.queued) {
          a.queued = true;
          writers.execute(() -> obey(a));
        }
      }
    }

    @Override
    public void onClose(WatcherException cause) {
      // A watch the server ends (for example 410 Gone) is opened again; agents re-read their spec.
      if (!closed) {
        LOG.warn("LayerStore watch closed ({}); opening it again", cause.getMessage());
        watch = client.resources(LayerStore.class).watch(this);
      }
    }
  }

  private void obey(Agent a) {
    synchronized (a) {
      a.queued = false;
      LayerStore store = a.latest;
      if (store == null || store.getMetadata().getGeneration() == a.actedOnGeneration) {
        return;
      }
      Set<String> assigned = new HashSet<>();
      List<AssignedLayer> layers =
          store.getSpec() == null || store.getSpec().layers() == null
              ? List.of()
              : store.getSpec().layers();
      for (AssignedLayer l : layers) {
        assigned.add(l.digest());
        a.seenInSpec.add(l.digest());
        a.held.computeIfAbsent(
            l.digest(), d -> new HeldLayer(d, l.size(), l.mediaType(), CopyState.Present, null));
      }
      // Like the real agent: a copy the operator never listed may be a fresh import it has not
      // seen yet, so only copies it listed before and no longer lists are dropped.
      a.held.keySet().removeIf(d -> a.seenInSpec.contains(d) && !assigned.contains(d));
      a.actedOnGeneration = store.getMetadata().getGeneration();
    }
    report(a);
  }

  private void report(Agent a) {
    LayerStore patch = new LayerStore();
    synchronized (a) {
      if (a.latest == null) {
        return;
      }
      List<HeldLayer> layers = new ArrayList<>(a.held.values());
      long used = layers.stream().mapToLong(HeldLayer::size).sum();
      int assigned =
          a.latest.getSpec() == null || a.latest.getSpec().layers() == null
              ? 0
              : a.latest.getSpec().layers().size();
      patch.setMetadata(new ObjectMetaBuilder().withName(a.node).build());
      patch.setStatus(
          new LayerStoreStatus(
              a.actedOnGeneration,
              new StoreEndpoints("http://" + a.node + ":7443", null, null, null),
              CAPACITY,
              used,
              ByteSizes.format(CAPACITY),
              ByteSizes.format(used),
              assigned,
              layers.size(),
              layers,
              null,
              0,
              Conditions.set(
                  null,
                  Conditions.READY,
                  true,
                  "Serving",
                  "The agent serves its store and obeys its spec.",
                  a.actedOnGeneration,
                  Instant.now())));
    }
    try {
      // Merge patch of the status subresource: the agent is the only writer of its status.
      client.resource(patch).patchStatus();
      statusWrites.incrementAndGet();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) { // the store went with its node
        LOG.warn("status write of {} failed: {}", a.node, e.getMessage());
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    if (watch != null) {
      watch.close();
    }
    writers.shutdownNow();
    try {
      writers.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
