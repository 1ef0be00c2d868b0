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
import io.layerns.operator.reconciler.ParallelWrites;
import io.layerns.testing.ControlPlane;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The operator on a real control plane at cluster scale: N plain Node objects, one lightweight
 * agent per node reporting its LayerStore status, layers drawn from D digests with a popular head
 * (base layers on hundreds of nodes) and a long tail (layers on one or two nodes), one
 * LayerNamespace with replicas 2. Measures the time to converge after the operator starts, after a
 * node leaves and after a node imports an image; the API writes each event costs; where the
 * operator's time goes; and the heap it keeps. Prints a Markdown table.
 *
 * <p>Converged means what a user would check: every digest has its Layer with the expected copies
 * and owners, and the namespace's status figures equal those the benchmark computes on its own from
 * the workload it generated.
 *
 * <p>Quick mode (default): 200 nodes, 5,000 digests. {@code BENCH_FULL=1}: 1,000 nodes, 50,000
 * digests. {@code -Dbench.nodes} and {@code -Dbench.digests} override either.
 */
public final class OperatorScaleBenchmark {
  private static final int REPLICAS = 2;
  private static final int NEW_IMAGE_LAYERS = 8;
  private static final String NAMESPACE = "bench";
  private static final Duration POLL = Duration.ofMillis(200);

  /** Writes have settled when none came for this long after convergence. */
  private static final Duration QUIET = Duration.ofSeconds(3);

  private final int nodes;
  private final int digests;
  private final Duration timeout;
  private final List<String> rows = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();

  private ControlPlane cp;
  private KubernetesClient client;
  private BenchAgents agents;
  private ClusterWatch watch;
  private LayernsOperator operator;
  private double lastConverged = Double.NaN;
  private String restartNote;
  private String steadyNote;
  private Double steadyCpuCores;
  private Double steadyWritesPerMinute;

  /** How long the converged cluster is watched at rest. */
  private static final Duration REST = Duration.ofSeconds(60);

  private static final String FLOOR_LABEL = "bench.layerns.io/floor";

  private OperatorScaleBenchmark(int nodes, int digests, Duration timeout) {
    this.nodes = nodes;
    this.digests = digests;
    this.timeout = timeout;
  }

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    boolean full = Bench.full();
    var bench =
        new OperatorScaleBenchmark(
            Integer.getInteger("bench.nodes", full ? 1_000 : 200),
            Integer.getInteger("bench.digests", full ? 50_000 : 5_000),
            Duration.ofMinutes(Long.getLong("bench.timeoutMinutes", full ? 30 : 10)));
    try {
      bench.run();
    } finally {
      bench.stop();
    }
    System.exit(0); // the operator's and the client's pools are not all daemon threads
  }

  // ---- the workload -------------------------------------------------------------------------

  /** Who holds what before the operator starts: seeded, so every run measures the same cluster. */
  record Workload(List<String> nodes, Map<String, Long> sizes, Map<String, List<HeldLayer>> held) {
    int holders(String digest) {
      int n = 0;
      for (List<HeldLayer> l : held.values()) {
        for (HeldLayer h : l) {
          if (h.digest().equals(digest)) n++;
        }
      }
      return n;
    }
  }

  static Workload generate(int nodeCount, int digestCount, Random random) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < nodeCount; i++) {
      names.add(String.format(Locale.ROOT, "node-%04d", i));
    }
    Map<String, List<HeldLayer>> held = new LinkedHashMap<>();
    names.forEach(n -> held.put(n, new ArrayList<>()));
    Map<String, Long> sizes = new LinkedHashMap<>();
    // The head: base layers (OS, language runtimes) whose popularity falls off as a power law, the
    // first on 80% of the nodes; 1 in 1,000 digests, at least 20.
    int head = Math.max(20, digestCount / 1_000);
    for (int i = 0; i < digestCount; i++) {
      String digest = digest("bench-layer-" + i);
      boolean base = i < head;
      // Base layers 20-80 MB; the tail spreads from 1 KB to 64 MB, log-uniform like real layers.
      long size =
          base
              ? 20_000_000L + random.nextLong(60_000_000L)
              : (long) Math.pow(2, 10 + random.nextDouble() * 16);
      sizes.put(digest, size);
      int copies =
          base
              ? Math.max(3, (int) Math.round(nodeCount * 0.8 / Math.pow(i + 1, 0.9)))
              : (random.nextDouble() < 0.7 ? 1 : 2);
      for (int n : random.ints(0, nodeCount).distinct().limit(copies).toArray()) {
        held.get(names.get(n))
            .add(
                new HeldLayer(
                    digest,
                    size,
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    CopyState.Present,
                    "registry.bench:5000/app-" + (i % 997)));
      }
    }
    return new Workload(names, sizes, held);
  }

  static String digest(String seed) {
    try {
      return "sha256:"
          + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(seed.getBytes()));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---- what converged means -----------------------------------------------------------------

  /** The state a user should see once the operator has caught up, computed by the benchmark. */
  record Expectation(Map<String, Integer> copies, Map<String, Long> sizes, int owners, int nodes) {
    long stored() {
      return copies.entrySet().stream().mapToLong(e -> e.getValue() * sizes.get(e.getKey())).sum();
    }

    long unique() {
      return copies.keySet().stream().mapToLong(sizes::get).sum();
    }

    /** How far the cluster is from this state: 0 when converged; otherwise what differs first. */
    Mismatch check(ClusterWatch watch) {
      int bad = 0;
      String first = null;
      for (var e : copies.entrySet()) {
        ClusterWatch.LayerView v = watch.layers().get(e.getKey());
        if (v == null || v.copies() != e.getValue() || v.owners() != owners) {
          bad++;
          if (first == null) {
            first =
                v == null
                    ? "Layer " + e.getKey() + " missing"
                    : "Layer "
                        + e.getKey()
                        + " has "
                        + v.copies()
                        + " copies/"
                        + v.owners()
                        + " owners, want "
                        + e.getValue()
                        + "/"
                        + owners;
          }
        }
      }
      int extra = watch.layers().size() - copies.size();
      if (extra > 0) {
        bad += extra;
        first = first == null ? extra + " Layers too many" : first;
      }
      LayerNamespaceStatus s = watch.namespaceStatus();
      String ns = namespaceDiff(s);
      if (ns != null) {
        bad++;
        first = first == null ? ns : first;
      }
      return new Mismatch(bad, first);
    }

    private String namespaceDiff(LayerNamespaceStatus s) {
      if (s == null) return "no namespace status yet";
      Map<String, Object[]> figures = new LinkedHashMap<>();
      figures.put("nodeCount", new Object[] {s.nodeCount(), nodes});
      figures.put("readyNodes", new Object[] {s.readyNodes(), nodes});
      figures.put("layerCount", new Object[] {s.layerCount(), copies.size()});
      figures.put("storedBytes", new Object[] {s.storedBytes(), stored()});
      figures.put("uniqueBytes", new Object[] {s.uniqueBytes(), unique()});
      figures.put("underReplicatedLayers", new Object[] {s.underReplicatedLayers(), 0});
      figures.put("lostLayers", new Object[] {s.lostLayers(), 0});
      for (var f : figures.entrySet()) {
        Object have = f.getValue()[0];
        Object want = f.getValue()[1];
        if (have == null || ((Number) have).longValue() != ((Number) want).longValue()) {
          return "namespace " + f.getKey() + " = " + have + ", want " + want;
        }
      }
      return null;
    }
  }

  record Mismatch(int count, String first) {}

  // ---- the run ------------------------------------------------------------------------------

  private void run() throws Exception {
    Workload w = generate(nodes, digests, new Random(42));
    long entries = w.held().values().stream().mapToLong(List::size).sum();
    int mostHeld = w.sizes().keySet().stream().limit(1).mapToInt(w::holders).max().orElse(0);

    cp = ControlPlane.start(ControlPlane.defaultBinDir());
    cp.applyCrds(Bench.repo().resolve("crds"));
    client = cp.newAdminClient();

    long t = System.nanoTime();
    BenchAgents.createNodes(client, w.nodes(), 16);
    double nodeSeconds = (System.nanoTime() - t) / 1e9;

    // The floor: this API server creating as many Layer-sized objects, as the operator writes them
    // (server-side apply, the same writes in flight), before anything else runs.
    double floorSeconds = floor(digests);

    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
    // A long eviction grace: copies beyond the owners stay, so convergence measures the operator's
    // bookkeeping, not an eviction timer (the dedup benchmark measures eviction).
    ns.setSpec(new LayerNamespaceSpec(null, REPLICAS, null, 3600, null, null, null));
    client.resource(ns).create();

    agents = new BenchAgents(client);
    w.held().forEach(agents::addAgent);
    agents.start();
    watch = new ClusterWatch(client);
    watch.start();
    operator =
        new LayernsOperator(
            cp.newAdminClient(),
            new OperatorConfig("bench-operator", "default", false, false, 0, Duration.ofHours(1)),
            Clock.systemUTC());

    // 1. The operator starts on a cluster whose nodes already hold images.
    Map<String, Integer> copies = new HashMap<>();
    w.held().values().forEach(l -> l.forEach(h -> copies.merge(h.digest(), 1, Integer::sum)));
    copies.replaceAll((d, c) -> Math.max(c, Math.min(REPLICAS, nodes)));
    Expectation afterStart =
        new Expectation(Map.copyOf(copies), w.sizes(), Math.min(REPLICAS, nodes), nodes);
    long cpu0 = cpuNanos();
    boolean ok =
        phase(
            "operator starts (cold: creates every LayerStore and Layer)",
            afterStart,
            operator::start);
    double coldSeconds = lastConverged;
    double coldCpu = (cpuNanos() - cpu0) / 1e9;

    // 2. A node leaves: deleting the Node garbage-collects its LayerStore (owner reference).
    String leaving = w.nodes().get(7 % nodes);
    if (ok) {
      Map<String, Long> lost = agents.held(leaving);
      Map<String, Integer> after = new HashMap<>(afterStart.copies());
      lost.keySet().forEach(d -> after.merge(d, -1, Integer::sum));
      after.replaceAll((d, c) -> Math.max(c, Math.min(REPLICAS, nodes - 1)));
      Expectation afterLeave =
          new Expectation(Map.copyOf(after), w.sizes(), Math.min(REPLICAS, nodes - 1), nodes - 1);
      java.time.Instant begin = java.time.Instant.now();
      ok =
          phase(
              "node leaves (" + lost.size() + " layers on it)",
              afterLeave,
              () -> {
                agents.removeAgent(leaving);
                client.nodes().withName(leaving).delete();
              });
      var gone = agents.storeDeletedAt(leaving);
      if (gone != null) {
        notes.add(
            String.format(
                Locale.ROOT,
                "After the Node was deleted, its LayerStore was gone (owner reference, garbage"
                    + " collector) in %.2f s.",
                Duration.between(begin, gone).toMillis() / 1e3));
      }

      // 3. A node imports a new image of k layers no node has.
      if (ok) {
        String importer = w.nodes().get(11 % nodes);
        Random r = new Random(7);
        List<HeldLayer> image = new ArrayList<>();
        Map<String, Long> sizes = new HashMap<>(w.sizes());
        Map<String, Integer> withImage = new HashMap<>(after);
        for (int i = 0; i < NEW_IMAGE_LAYERS; i++) {
          String d = digest("bench-new-image-layer-" + i);
          long size = (long) Math.pow(2, 14 + r.nextDouble() * 12);
          sizes.put(d, size);
          withImage.put(d, Math.min(REPLICAS, nodes - 1));
          image.add(
              new HeldLayer(
                  d,
                  size,
                  "application/vnd.oci.image.layer.v1.tar+gzip",
                  CopyState.Present,
                  "registry.bench:5000/new-image"));
        }
        Expectation afterImport =
            new Expectation(Map.copyOf(withImage), sizes, Math.min(REPLICAS, nodes - 1), nodes - 1);
        ok =
            phase(
                "node imports an image (" + NEW_IMAGE_LAYERS + " new layers)",
                afterImport,
                () -> agents.importLayers(importer, image));
        // 4. The operator restarts on the converged cluster: it must write nothing.
        if (ok) {
          restart(afterImport);
          steady();
        }
      }
    }

    // The operator's heap: what the JVM retains with it, less what it retains once it is closed.
    long withOperator = Bench.usedHeapAfterGc();
    operator.close();
    operator = null;
    long withoutOperator = Bench.usedHeapAfterGc();

    System.out.printf(
        Locale.ROOT,
        "%,d nodes (plain Node objects, created in %.1f s), %,d digests (%,d base layers, the most"
            + " popular on %,d nodes; the rest on 1 or 2 nodes), %,d (node, layer) copies before the"
            + " operator starts (%.0f per node); one LayerNamespace, replicas %d; lightweight agents"
            + " (8 writer threads) that report once per spec generation.%n%n",
        nodes,
        nodeSeconds,
        digests,
        Math.max(20, digests / 1_000),
        mostHeld,
        entries,
        (double) entries / nodes,
        REPLICAS);
    System.out.printf(
        Locale.ROOT,
        "Cold start against the floor: the operator converged in %s; the same API server created"
            + " %,d Layer-sized objects (server-side apply, %d in flight, as the operator sends"
            + " them) in %s before the operator started: **%s the floor** (goal: 1.5x).%n%n",
        Double.isNaN(coldSeconds) ? "-" : Bench.seconds(coldSeconds),
        digests,
        ParallelWrites.IN_FLIGHT,
        Bench.seconds(floorSeconds),
        Double.isNaN(coldSeconds) ? "-" : Bench.ratio(coldSeconds / floorSeconds));
    System.out.println(
        "| event | converged in | writes settled in | operator API writes | Layer create /"
            + " Layer status / LayerStore spec / LayerNamespace status / Event | agent status"
            + " writes | Layer watch events | reconciles `layer` (time in them) | reconciles"
            + " `layernamespace` (time in them) | server time per Layer create / status write |");
    System.out.println("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    rows.forEach(System.out::println);
    System.out.printf(
        Locale.ROOT,
        "%nOperator heap retained after GC: %s (JVM heap in use with the operator running, after"
            + " GC, less the same after the operator is closed; its informer caches of %,d"
            + " LayerStores and %,d Layers are most of it).%n",
        Bench.mib(withOperator - withoutOperator),
        nodes,
        watch.layers().size());
    if (restartNote != null) {
      System.out.println("\n" + restartNote);
    }
    notes.forEach(n -> System.out.println("\n" + n));
    // One line per size for the README's sizing table (quoted from this file).
    System.out.printf(
        Locale.ROOT,
        "%nSizing (this run):%n%n| nodes × layers | operator heap retained | CPU during the cold"
            + " start | CPU at rest | operator API writes per minute at rest |%n| --- | ---: |"
            + " ---: | ---: | ---: |%n| %,d × %,d | %s | %.2f cores for %s | %s | %s |%n",
        nodes,
        digests,
        Bench.mib(withOperator - withoutOperator),
        Double.isNaN(coldSeconds) ? Double.NaN : coldCpu / coldSeconds,
        Double.isNaN(coldSeconds) ? "-" : Bench.seconds(coldSeconds),
        steadyCpuCores == null ? "-" : String.format(Locale.ROOT, "%.3f cores", steadyCpuCores),
        steadyWritesPerMinute == null
            ? "-"
            : String.format(Locale.ROOT, "%.1f", steadyWritesPerMinute));
    if (steadyNote != null) {
      System.out.println("\n" + steadyNote);
    }
  }

  /** Runs {@code action}, then waits until the expectation holds and the writes stop. */
  private boolean phase(String name, Expectation expected, Runnable action)
      throws InterruptedException {
    ApiWrites writes0 = ApiWrites.scrape(client, cp.url());
    OperatorProfile profile0 = OperatorProfile.scrape(operator.httpPort());
    long agent0 = agents.statusWrites();
    long events0 = watch.layerAdded.get() + watch.layerModified.get();

    long begin = System.nanoTime();
    action.run();
    long deadline = begin + timeout.toNanos();
    Mismatch m = expected.check(watch);
    while (m.count() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(POLL);
      m = expected.check(watch);
    }
    double converged = (System.nanoTime() - begin) / 1e9;
    boolean ok = m.count() == 0;
    lastConverged = ok ? converged : Double.NaN;

    // Keep counting until no write has come for QUIET: the event's whole cost, tail included.
    long lastTotal = operatorWrites(ApiWrites.scrape(client, cp.url())) + agents.statusWrites();
    long lastChange = System.nanoTime();
    while (System.nanoTime() - lastChange < QUIET.toNanos() && System.nanoTime() < deadline) {
      Thread.sleep(500);
      long total = operatorWrites(ApiWrites.scrape(client, cp.url())) + agents.statusWrites();
      if (total != lastTotal) {
        lastTotal = total;
        lastChange = System.nanoTime();
      }
    }
    double settled = (lastChange - begin) / 1e9;
    ApiWrites writes = ApiWrites.scrape(client, cp.url()).minus(writes0);
    OperatorProfile profile = OperatorProfile.scrape(operator.httpPort()).minus(profile0);
    long agentWrites = agents.statusWrites() - agent0;
    long layerEvents = watch.layerAdded.get() + watch.layerModified.get() - events0;

    rows.add(
        String.format(
            Locale.ROOT,
            "| %s | %s | %s | %,d | %,d / %,d / %,d / %,d / %,d | %,d | %,d | %s | %s | %s / %s |",
            name,
            ok
                ? Bench.seconds(converged)
                : "**not converged** after "
                    + Bench.seconds(converged)
                    + ": "
                    + m.count()
                    + " differences, e.g. "
                    + m.first(),
            Bench.seconds(Math.max(settled, converged)),
            operatorWrites(writes),
            writes.of("layers", "APPLY") + writes.of("layers", "POST"),
            writes.of("layers/status"),
            writes.of("layerstores") - writes.of("layerstores", "DELETE"),
            writes.of("layernamespaces/status"),
            writes.of("events"),
            agentWrites,
            layerEvents,
            profile.describe("layer"),
            profile.describe("layernamespace"),
            millis(writes.meanMillis("layers")),
            millis(writes.meanMillis("layers/status"))));
    System.err.println("bench: " + name + ": " + rows.getLast());
    return ok;
  }

  /**
   * Seconds this API server takes to create {@code count} Layers like the operator's (a digest, a
   * size, a media type, one source), by server-side apply with the operator's writes in flight;
   * then deletes them and waits until they are gone, so the operator starts on a clean server.
   */
  private double floor(int count) {
    List<Runnable> writes = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      String d = digest("bench-floor-" + i);
      io.layerns.api.v1alpha1.Layer layer = new io.layerns.api.v1alpha1.Layer();
      layer.setMetadata(
          new ObjectMetaBuilder()
              .withName(io.layerns.api.v1alpha1.CrdConstants.layerName(d))
              .addToLabels(FLOOR_LABEL, "true")
              .build());
      layer.setSpec(
          new io.layerns.api.v1alpha1.LayerSpec(
              d,
              (long) (1 << 20) + i,
              null,
              "application/vnd.oci.image.layer.v1.tar+gzip",
              List.of("registry.bench:5000/app-" + (i % 997))));
      writes.add(
          () ->
              client
                  .resource(layer)
                  .fieldManager("bench-floor")
                  .forceConflicts()
                  .serverSideApply());
    }
    long t = System.nanoTime();
    ParallelWrites.run(writes);
    double seconds = (System.nanoTime() - t) / 1e9;
    client.resources(io.layerns.api.v1alpha1.Layer.class).withLabel(FLOOR_LABEL, "true").delete();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!client
            .resources(io.layerns.api.v1alpha1.Layer.class)
            .withLabel(FLOOR_LABEL, "true")
            .list(new io.fabric8.kubernetes.api.model.ListOptionsBuilder().withLimit(1L).build())
            .getItems()
            .isEmpty()
        && System.nanoTime() < deadline) {
      sleep(POLL);
    }
    System.err.printf(Locale.ROOT, "bench: floor: %,d Layers in %.1f s%n", count, seconds);
    return seconds;
  }

  /**
   * Stops the operator and starts a new one on the converged cluster: how long until it is ready
   * (informers synced, probes answer) and until it has re-examined every Layer, and what it wrote
   * meanwhile (it should write nothing).
   */
  private void restart(Expectation expected) throws Exception {
    int layerCount = watch.layers().size();
    operator.close();
    ApiWrites writes0 = ApiWrites.scrape(client, cp.url());
    long agent0 = agents.statusWrites();
    long begin = System.nanoTime();
    operator =
        new LayernsOperator(
            cp.newAdminClient(),
            new OperatorConfig("bench-operator", "default", false, false, 0, Duration.ofHours(1)),
            Clock.systemUTC());
    operator.start();
    double ready = (System.nanoTime() - begin) / 1e9;
    long deadline = begin + timeout.toNanos();
    // Every Layer is reconciled once at start (java-operator-sdk's initial pass); done when that
    // many have run and the namespace reconciled.
    OperatorProfile p = OperatorProfile.scrape(operator.httpPort());
    while ((p.count().getOrDefault("layer", 0L) < layerCount
            || p.count().getOrDefault("layernamespace", 0L) < 1)
        && System.nanoTime() < deadline) {
      sleep(POLL);
      p = OperatorProfile.scrape(operator.httpPort());
    }
    // Then until the reconciles stop (each store's first event wakes its Layers once more) and a
    // quiet period passes: any write the restart causes has come by then.
    long reconciles = p.count().getOrDefault("layer", 0L);
    long lastChange = System.nanoTime();
    while (System.nanoTime() - lastChange < QUIET.toNanos() && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(500));
      long now = OperatorProfile.scrape(operator.httpPort()).count().getOrDefault("layer", 0L);
      if (now != reconciles) {
        reconciles = now;
        lastChange = System.nanoTime();
      }
    }
    double examined = (lastChange - begin) / 1e9;
    Mismatch m = expected.check(watch);
    ApiWrites writes = ApiWrites.scrape(client, cp.url()).minus(writes0);
    p = OperatorProfile.scrape(operator.httpPort());
    restartNote =
        String.format(
            Locale.ROOT,
            "Restart of the converged operator: ready (informers synced, probes answer) in %s;"
                + " its reconciles done %s after start (%,d Layers; `layer` reconciles: %s,"
                + " `layernamespace`: %s); %,d operator API writes and %,d agent status writes"
                + " meanwhile; %s.",
            Bench.seconds(ready),
            Bench.seconds(examined),
            layerCount,
            p.describe("layer"),
            p.describe("layernamespace"),
            operatorWrites(writes),
            agents.statusWrites() - agent0,
            m.count() == 0
                ? "the cluster stayed converged"
                : "**" + m.count() + " differences after it**, e.g. " + m.first());
    System.err.println("bench: " + restartNote);
  }

  /**
   * The converged cluster at rest for {@link #REST}: the operator's API writes per minute and the
   * CPU of this JVM (the operator; the agents and watches are idle then).
   */
  private void steady() {
    ApiWrites writes0 = ApiWrites.scrape(client, cp.url());
    long cpu0 = cpuNanos();
    long begin = System.nanoTime();
    sleep(REST);
    double seconds = (System.nanoTime() - begin) / 1e9;
    long writes = operatorWrites(ApiWrites.scrape(client, cp.url()).minus(writes0));
    steadyCpuCores = (cpuNanos() - cpu0) / 1e9 / seconds;
    steadyWritesPerMinute = writes * 60 / seconds;
    steadyNote =
        String.format(
            Locale.ROOT,
            "At rest (converged, nothing changing) for %s: %,d operator API writes, %.3f cores of"
                + " this JVM (the operator; the benchmark's agents and watches idle).",
            Bench.seconds(seconds),
            writes,
            steadyCpuCores);
  }

  /** CPU time this JVM has used, all threads. */
  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static String millis(double ms) {
    return Double.isNaN(ms) ? "-" : String.format(Locale.ROOT, "%.1f ms", ms);
  }

  /** Writes the operator makes: Layers, their status, store specs, namespace status, events. */
  private static long operatorWrites(ApiWrites w) {
    return w.of("layers")
        + w.of("layers/status")
        + w.of("layerstores")
        - w.of("layerstores", "DELETE") // the garbage collector's, not the operator's
        + w.of("layernamespaces/status")
        + w.of("events");
  }

  private void stop() {
    if (operator != null) operator.close();
    if (watch != null) watch.close();
    if (agents != null) agents.close();
    if (client != null) client.close();
    if (cp != null) cp.close();
  }
}
