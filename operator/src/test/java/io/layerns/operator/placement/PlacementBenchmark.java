package io.layerns.operator.placement;

import com.sun.management.ThreadMXBean;
import io.layerns.api.v1alpha1.CopyState;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Times placement on 1,000 nodes and 50,000 layers (full and incremental decisions) and measures
 * heap; prints a Markdown table. A main class, not a test: run it after test-compile with {@code
 * java -cp operator/target/classes:operator/target/test-classes:api/target/classes
 * io.layerns.operator.placement.PlacementBenchmark}.
 */
public final class PlacementBenchmark {
  static final int NODES = 1_000;
  static final int LAYERS = 50_000;
  static final int POPULAR = 500;
  static final int WARMUP = 5;
  static final int RUNS = 11;
  static final int INCREMENTAL_RUNS = 201;
  static final Instant NOW = Instant.parse("2025-06-01T12:00:00Z");
  static final Policy POLICY = new Policy(2, Duration.ofMinutes(5), Duration.ofMinutes(5));

  private final List<String> rows = new ArrayList<>();

  public static void main(String[] args) {
    new PlacementBenchmark().run();
  }

  private void run() {
    long heapBefore = usedHeap();
    // The workload is random but seeded, so every run measures the same cluster.
    ClusterState steady = steadyCluster(new Random(42));
    long heapState = usedHeap() - heapBefore;

    Decision decision = time("full decision, steady cluster", () -> Placement.decide(steady));
    long heapDecision = usedHeap() - heapBefore - heapState;
    long allocated = allocatedBy(() -> Placement.decide(steady));

    ClusterState fresh = freshCluster(steady);
    time(
        "full decision, no copies yet (every layer picks owners from all nodes)",
        () -> Placement.decide(fresh));

    incremental(steady, "node-0042");

    System.out.printf(
        Locale.ROOT,
        "%n%d nodes, %d layers (%d popular, on 50-300 nodes each), replicas %d; %d layers"
            + " kept or fetched on nodes, %d drops, %d under-replicated, %d lost%n%n",
        NODES,
        LAYERS,
        POPULAR,
        POLICY.replicas(),
        decision.assignments().values().stream().mapToLong(List::size).sum(),
        decision.drops().size(),
        decision.underReplicated(),
        decision.lost().size());
    System.out.println("| measurement | median | min | max |");
    System.out.println("| --- | ---: | ---: | ---: |");
    rows.forEach(System.out::println);
    System.out.printf(Locale.ROOT, "| heap: observed state | %s | | |%n", mib(heapState));
    System.out.printf(Locale.ROOT, "| heap: one decision kept | %s | | |%n", mib(heapDecision));
    System.out.printf(Locale.ROOT, "| allocated per full decision | %s | | |%n", mib(allocated));
  }

  /** One node's store changed: re-decide only the layers it holds or reads. */
  private void incremental(ClusterState state, String node) {
    Map<String, LayerState> byDigest = new HashMap<>();
    Map<String, Set<String>> layersOfNode = new HashMap<>();
    for (LayerState layer : state.layers()) {
      byDigest.put(layer.digest(), layer);
      layer
          .holders()
          .forEach(
              h ->
                  layersOfNode.computeIfAbsent(h.node(), n -> new HashSet<>()).add(layer.digest()));
      layer
          .references()
          .forEach(
              r ->
                  layersOfNode.computeIfAbsent(r.node(), n -> new HashSet<>()).add(layer.digest()));
    }
    Set<String> touched = layersOfNode.get(node);
    List<LayerState> affected = touched.stream().sorted().map(byDigest::get).toList();
    time(
        "incremental: one node's store (" + affected.size() + " layers), membership included",
        INCREMENTAL_RUNS,
        () -> Placement.decideLayers(state.membership(), affected));
    MemberIndex membership = state.membership();
    time(
        "incremental: one node's store (" + affected.size() + " layers), membership reused",
        INCREMENTAL_RUNS,
        () -> Placement.decideLayers(membership, affected));
  }

  private interface Job {
    Decision run();
  }

  private Decision time(String what, Job job) {
    return time(what, RUNS, job);
  }

  private Decision time(String what, int runs, Job job) {
    Decision result = null;
    for (int i = 0; i < WARMUP; i++) {
      result = job.run();
    }
    double[] millis = new double[runs];
    for (int i = 0; i < runs; i++) {
      long start = System.nanoTime();
      result = job.run();
      millis[i] = (System.nanoTime() - start) / 1e6;
    }
    Arrays.sort(millis);
    rows.add(
        String.format(
            Locale.ROOT,
            "| %s | %s | %s | %s |",
            what,
            ms(millis[runs / 2]),
            ms(millis[0]),
            ms(millis[runs - 1])));
    return result;
  }

  private static ClusterState steadyCluster(Random random) {
    var names = new ArrayList<String>();
    for (int i = 0; i < NODES; i++) {
      names.add(String.format("node-%04d", i));
    }
    var holders = new ArrayList<List<Holder>>();
    var references = new ArrayList<List<Reference>>();
    var owners = new ArrayList<List<String>>();
    var sizes = new long[LAYERS];
    var digests = new ArrayList<String>();
    long[] used = new long[NODES];
    for (int l = 0; l < LAYERS; l++) {
      digests.add(
          String.format(
              "sha256:%016x%016x%016x%016x",
              random.nextLong(), random.nextLong(), random.nextLong(), random.nextLong()));
      // Log-uniform between 1 KiB and 256 MiB, like real layer sizes.
      sizes[l] = (long) Math.pow(2, 10 + random.nextDouble() * 18);
      var layerHolders = new ArrayList<Holder>();
      var layerRefs = new ArrayList<Reference>();
      var layerOwners = new ArrayList<String>();
      if (l < POPULAR) {
        // Base layers: many nodes pulled them for their own pods and read them locally.
        var nodes = new LinkedHashSet<Integer>();
        int count = 50 + random.nextInt(251);
        while (nodes.size() < count) {
          nodes.add(random.nextInt(NODES));
        }
        int i = 0;
        for (int node : nodes) {
          layerHolders.add(Holder.of(names.get(node), CopyState.Present));
          used[node] += sizes[l];
          if (i++ < 2) {
            layerOwners.add(names.get(node));
          } else {
            layerRefs.add(Reference.local(names.get(node)));
          }
        }
      } else {
        int first = random.nextInt(NODES);
        int second = (first + 1 + random.nextInt(NODES - 1)) % NODES;
        layerOwners.add(names.get(first));
        layerOwners.add(names.get(second));
        layerHolders.add(Holder.of(names.get(first), CopyState.Present));
        used[first] += sizes[l];
        int kind = random.nextInt(100);
        if (kind < 5) {
          // The second owner left: this layer needs a new owner from the whole pool.
          layerOwners.set(1, "departed-node");
        } else if (kind < 7) {
          layerHolders.add(Holder.of(names.get(second), CopyState.Fetching));
        } else {
          layerHolders.add(Holder.of(names.get(second), CopyState.Present));
          used[second] += sizes[l];
        }
        if (random.nextInt(3) == 0) {
          layerRefs.add(new Reference(names.get(random.nextInt(NODES)), names.get(first)));
        }
      }
      holders.add(layerHolders);
      references.add(layerRefs);
      owners.add(layerOwners);
    }
    var layers = new ArrayList<LayerState>();
    for (int l = 0; l < LAYERS; l++) {
      layers.add(
          new LayerState(
              digests.get(l),
              sizes[l],
              holders.get(l),
              references.get(l),
              random.nextInt(10) > 0,
              owners.get(l)));
    }
    var members = new ArrayList<Member>();
    for (int i = 0; i < NODES; i++) {
      members.add(
          new Member(names.get(i), i % 100 != 7, NOW.minusSeconds(60), 200L << 30, used[i]));
    }
    return new ClusterState(POLICY, NOW, members, layers);
  }

  private static ClusterState freshCluster(ClusterState steady) {
    var layers =
        steady.layers().stream()
            .map(
                l ->
                    new LayerState(
                        l.digest(), l.sizeBytes(), List.of(), List.of(), true, List.of()))
            .toList();
    var members = steady.members().stream().map(m -> Member.ready(m.name())).toList();
    return new ClusterState(POLICY, NOW, members, layers);
  }

  private static long allocatedBy(Job job) {
    var threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();
    job.run();
    return threads.getCurrentThreadAllocatedBytes() - before;
  }

  private static long usedHeap() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  private static String ms(double millis) {
    return String.format(Locale.ROOT, "%.1f ms", millis);
  }

  private static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
  }
}
