package io.layerns.bench;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Bytes stored before and after dedup: simulated nodes import images that share base and runtime
 * layers (every node keeps what it imported, as without layerns), then the operator, on a real
 * control plane, keeps {@code replicas} copies of each layer and the agents drop the rest after the
 * eviction grace. For replicas 1, 2 and 3 (a fresh control plane each), compares the bytes stored
 * with the unique bytes and with the floor, replicas × unique, and times convergence. Prints a
 * Markdown table.
 *
 * <p>Quick mode: 20 nodes, 40 images. {@code BENCH_FULL=1}: 100 nodes, 200 images.
 */
public final class DedupStorageBenchmark {
  private static final String NAMESPACE = "bench";
  private static final int GRACE_SECONDS = 1;

  record Image(String name, List<HeldLayer> layers) {}

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    boolean full = Bench.full();
    int nodes = Integer.getInteger("bench.dedupNodes", full ? 100 : 20);
    int images = Integer.getInteger("bench.images", full ? 200 : 40);
    Duration timeout = Duration.ofMinutes(full ? 15 : 5);

    Random random = new Random(3);
    List<Image> catalog = catalog(images, random);
    Map<String, List<HeldLayer>> imported = new LinkedHashMap<>();
    Set<Integer> used = new java.util.TreeSet<>();
    for (int n = 0; n < nodes; n++) {
      // Each node runs 4-10 of the images; popular ones more often (the first in the catalog).
      Map<String, HeldLayer> mine = new LinkedHashMap<>();
      int count = 4 + random.nextInt(7);
      for (int i = 0; i < count; i++) {
        int pick = (int) Math.min(images - 1, Math.abs(random.nextGaussian()) * images / 3);
        used.add(pick);
        catalog.get(pick).layers().forEach(l -> mine.put(l.digest(), l));
      }
      imported.put(String.format(Locale.ROOT, "node-%03d", n), List.copyOf(mine.values()));
    }
    long before = imported.values().stream().flatMap(List::stream).mapToLong(HeldLayer::size).sum();
    Map<String, Long> unique = new LinkedHashMap<>();
    imported.values().forEach(l -> l.forEach(h -> unique.put(h.digest(), h.size())));
    long uniqueBytes = unique.values().stream().mapToLong(Long::longValue).sum();

    List<String> rows = new ArrayList<>();
    List<String> csv = new ArrayList<>();
    for (int replicas = 1; replicas <= 3; replicas++) {
      rows.add(run(imported, replicas, unique.size(), uniqueBytes, before, timeout, csv));
    }
    Bench.writeCsv(
        "dedup", "replicas,before_bytes,after_bytes,unique_bytes,floor_bytes,converged", csv);

    System.out.printf(
        Locale.ROOT,
        "%d nodes, each importing 4-10 of %d images (%d of them used somewhere), built on 3 base and 6 runtime"
            + " layers plus 2-6 own layers each; %,d distinct layers; eviction grace %d s. Before"
            + " dedup every node keeps what it imported. Bytes are the layers' compressed sizes;"
            + " the agents simulate holding them.%n%n",
        nodes,
        images,
        used.size(),
        unique.size(),
        GRACE_SECONDS);
    System.out.println(
        "| replicas | stored before dedup | stored after (agents' disks) | namespace status"
            + " storedBytes / dedupRatio | unique bytes | floor (replicas × unique) | after /"
            + " floor | before / after (saved) | converged in |");
    System.out.println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    rows.forEach(System.out::println);
    System.exit(0);
  }

  private static String run(
      Map<String, List<HeldLayer>> imported,
      int replicas,
      int distinct,
      long unique,
      long before,
      Duration timeout,
      List<String> csv)
      throws Exception {
    try (ControlPlane cp = ControlPlane.start(ControlPlane.defaultBinDir())) {
      cp.applyCrds(Bench.repo().resolve("crds"));
      KubernetesClient client = cp.newAdminClient();
      BenchAgents.createNodes(client, List.copyOf(imported.keySet()), 8);
      LayerNamespace ns = new LayerNamespace();
      ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
      ns.setSpec(new LayerNamespaceSpec(null, replicas, null, GRACE_SECONDS, null, null, null));
      client.resource(ns).create();
      try (BenchAgents agents = new BenchAgents(client);
          ClusterWatch watch = new ClusterWatch(client)) {
        imported.forEach(agents::addAgent);
        agents.start();
        watch.start();
        long floor = replicas * unique;
        try (LayernsOperator op =
            new LayernsOperator(
                cp.newAdminClient(),
                new OperatorConfig(
                    "bench-operator", "default", false, false, 0, Duration.ofHours(1)),
                Clock.systemUTC())) {
          long begin = System.nanoTime();
          op.start();
          long deadline = begin + timeout.toNanos();
          while (!converged(watch.namespaceStatus(), agents, distinct, unique, floor)
              && System.nanoTime() < deadline) {
            Thread.sleep(200);
          }
          double seconds = (System.nanoTime() - begin) / 1e9;
          LayerNamespaceStatus s = watch.namespaceStatus();
          long after = agents.heldBytes();
          boolean ok = converged(s, agents, distinct, unique, floor);
          String row =
              String.format(
                  Locale.ROOT,
                  "| %d | %s | %s | %s / %s | %s | %s | %s | %s (%.0f%%) | %s |",
                  replicas,
                  gib(before),
                  gib(after),
                  s == null ? "-" : gib(s.storedBytes()),
                  s == null ? "-" : s.dedupRatio(),
                  gib(unique),
                  gib(floor),
                  Bench.ratio((double) after / floor),
                  Bench.ratio((double) before / after),
                  100.0 * (before - after) / before,
                  ok ? Bench.seconds(seconds) : "**not converged** in " + Bench.seconds(seconds));
          System.err.println("bench: dedup " + row);
          csv.add(
              String.format(
                  Locale.ROOT, "%d,%d,%d,%d,%d,%b", replicas, before, after, unique, floor, ok));
          client.close();
          return row;
        }
      }
    }
  }

  /** The operator's figures and the agents' disks both at the floor, nothing under-replicated. */
  private static boolean converged(
      LayerNamespaceStatus s, BenchAgents agents, int distinct, long unique, long floor) {
    return s != null
        && s.layerCount() != null
        && s.layerCount() == distinct
        && s.uniqueBytes() != null
        && s.uniqueBytes() == unique
        && s.storedBytes() != null
        && s.storedBytes() == floor
        && s.underReplicatedLayers() != null
        && s.underReplicatedLayers() == 0
        && agents.heldBytes() == floor;
  }

  /** Images as registries hold them: few bases, some runtimes on them, apps on the runtimes. */
  static List<Image> catalog(int count, Random random) {
    List<HeldLayer> bases =
        List.of(
            layer("base-debian", 49_000_000),
            layer("base-ubuntu", 29_000_000),
            layer("base-alpine", 3_400_000));
    List<List<HeldLayer>> runtimes = new ArrayList<>();
    String[] names = {"python", "node", "jdk", "go", "ruby", "dotnet"};
    long[] sizes = {58_000_000, 64_000_000, 135_000_000, 90_000_000, 41_000_000, 72_000_000};
    for (int i = 0; i < names.length; i++) {
      List<HeldLayer> r = new ArrayList<>();
      r.add(bases.get(i % bases.size()));
      r.add(layer("runtime-" + names[i], sizes[i]));
      r.add(layer("runtime-" + names[i] + "-tools", sizes[i] / 5));
      runtimes.add(r);
    }
    List<Image> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Set<HeldLayer> layers = new LinkedHashSet<>(runtimes.get(random.nextInt(runtimes.size())));
      int own = 2 + random.nextInt(5);
      for (int j = 0; j < own; j++) {
        // App layers: dependencies (MBs), then code and config (KBs).
        long size = (long) Math.pow(2, 12 + random.nextDouble() * (j == 0 ? 14 : 9));
        layers.add(layer("app-" + i + "-" + j, size));
      }
      out.add(new Image("app-" + i, List.copyOf(layers)));
    }
    return out;
  }

  private static HeldLayer layer(String seed, long size) {
    return new HeldLayer(
        OperatorScaleBenchmark.digest(seed),
        size,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        CopyState.Present,
        "registry.bench:5000/" + seed.replaceAll("-[0-9]+$", ""));
  }

  private static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
  }
}
