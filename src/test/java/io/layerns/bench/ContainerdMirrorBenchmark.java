package io.layerns.bench;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Trees;
import io.layerns.system.ClusterInstall;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.ClusterNode;
import io.layerns.testing.cluster.TestCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * containerd's own pull ({@code ctr images pull}, the real containerd 2.x of a test cluster node,
 * fetch and unpack) of one image through the node's layerns registry mirror, which fetches it from
 * the peer that holds it, against the same pull from the registry, in one run; then the registry
 * bytes three nodes' pulls cost without and with the mirrors, counted from the registry's own log.
 */
public final class ContainerdMirrorBenchmark {
  private static final Pattern WRITTEN = Pattern.compile("http\\.response\\.written=(\\d+)");
  private static final String DIRECT_HOSTS = "/var/lib/bench-direct-certs.d";

  private final TestCluster cluster;
  private final KubernetesClient client;
  private ClusterPodStartBenchmark.Image image;

  private ContainerdMirrorBenchmark(TestCluster cluster) {
    this.cluster = cluster;
    this.client = cluster.client();
  }

  /** One pull: seconds, registry bytes served meanwhile, bytes the node's mirror served. */
  record Pull(
      String node, double seconds, long registryBytes, double mirrorPeer, double mirrorLocal) {}

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    io.layerns.system.KubeletMounts.assumeRootInPrivateMountNamespace();
    long size = Long.getLong("bench.mirrorBytes", 1L << 30);
    Path work = Files.createTempDirectory("layerns-mirror-bench");
    try {
      long t = System.nanoTime();
      PublishBenchmark.Layers layers =
          PublishBenchmark.writeLayers(Files.createDirectories(work.resolve("image")), size);
      Path busybox = ClusterPodStartBenchmark.busyboxLayer(work.resolve("busybox.tar.gz"));
      log("built the %s image in %.1f s", Bench.mib(size), (System.nanoTime() - t) / 1e9);
      try (TestCluster cluster =
          ClusterInstall.startWithLayerns(
              archives ->
                  new TestCluster.Options(3, ClusterInstall.PAUSE, archives)
                      .withContainerdHostsFromLayerns(),
              c -> {},
              ClusterInstall.LOCAL_CLUSTER_MIRROR)) {
        ContainerdMirrorBenchmark bench = new ContainerdMirrorBenchmark(cluster);
        bench.image = ClusterPodStartBenchmark.pushImage(cluster, size, layers, busybox);
        bench.run();
      }
    } finally {
      Trees.delete(work);
    }
    System.exit(0);
  }

  private static void log(String format, Object... args) {
    System.err.printf(Locale.ROOT, "bench: mirror: " + format + "%n", args);
  }

  private void run() throws Exception {
    // The baseline's own hosts dir: the registry alone, over plain HTTP (no mirror).
    for (ClusterNode n : cluster.nodes()) {
      Path f =
          n.varLib()
              .resolve(DIRECT_HOSTS.substring("/var/lib/".length()))
              .resolve(ClusterNetwork.registryHost())
              .resolve("hosts.toml");
      Files.createDirectories(f.getParent());
      Files.writeString(f, "server = \"http://" + ClusterNetwork.registryHost() + "\"\n");
    }
    long mark = registryLines();
    long t = System.nanoTime();
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName("bench").build());
    ns.setSpec(
        new LayerNamespaceSpec(
            null, 1, Transport.Sshfs, 600, 300, null, List.of(image.reference())));
    client.resource(ns).forceConflicts().serverSideApply();
    String holder = awaitSingleHolder();
    double preloadSeconds = (System.nanoTime() - t) / 1e9;
    long preloadBytes = registryBytesSince(mark);
    List<String> others =
        cluster.nodes().stream().map(ClusterNode::name).filter(n -> !n.equals(holder)).toList();
    String reader = others.getFirst();
    log("preloaded on %s in %.1f s (%,d registry bytes)", holder, preloadSeconds, preloadBytes);

    // One node, one image: the registry, then the mirror (fetching from the holder).
    Pull direct = pull(reader, DIRECT_HOSTS);
    forget(reader);
    Pull mirrored = pull(reader, ClusterNode.CONTAINERD_HOSTS_DIR);
    forget(reader);
    log("direct %.2f s, mirror %.2f s", direct.seconds(), mirrored.seconds());

    // Three nodes pull at once: each from the registry, then each through its mirror.
    List<String> all = cluster.nodes().stream().map(ClusterNode::name).toList();
    mark = registryLines();
    List<Pull> directAll = pullAll(all, DIRECT_HOSTS);
    long directAllBytes = registryBytesSince(mark);
    for (String n : all) {
      forget(n);
    }
    mark = registryLines();
    List<Pull> mirroredAll = pullAll(all, ClusterNode.CONTAINERD_HOSTS_DIR);
    long mirroredAllBytes = registryBytesSince(mark);
    if (directAllBytes < 3 * image.blobBytes()) {
      throw new IllegalStateException(
          "the registry's log counts "
              + directAllBytes
              + " bytes for three pulls of "
              + image.blobBytes()
              + " bytes of blobs: its lines are not what this benchmark reads");
    }
    report(
        holder,
        reader,
        preloadSeconds,
        preloadBytes,
        direct,
        mirrored,
        directAll,
        directAllBytes,
        mirroredAll,
        mirroredAllBytes);
  }

  private void report(
      String holder,
      String reader,
      double preloadSeconds,
      long preloadBytes,
      Pull direct,
      Pull mirrored,
      List<Pull> directAll,
      long directAllBytes,
      List<Pull> mirroredAll,
      long mirroredAllBytes) {
    System.out.printf(
        Locale.ROOT,
        "The real test cluster (`TestCluster`): 3 nodes, each a kubelet v1.35 with its own"
            + " containerd 2.x; Debian's docker-registry at %s over plain HTTP; layerns installed"
            + " with `kubectl apply -k hack/local-cluster-mirror`, so every node plugin wrote"
            + " containerd's `hosts.toml` for the registry (this node's mirror first, then the"
            + " registry). The image: %s of files in gzip layers on a busybox layer, %s of gzip"
            + " blobs; a LayerNamespace (replicas 1) preloaded it on %s (%s, %s from the"
            + " registry). Each pull is `ctr images pull --hosts-dir` on the node (fetch and"
            + " unpack into containerd's overlayfs snapshotter): with a hosts dir naming only the"
            + " registry (baseline), or containerd's own, whose first host is the node's mirror."
            + " One run of each, the baseline first; between pulls the node's containerd forgot"
            + " the image (`ctr images rm --sync`, its content checked gone). Registry bytes are"
            + " the `http.response.written` of the registry's own log.%n%n",
        ClusterNetwork.registryHost(),
        Bench.mib(image.bytes()),
        Bench.mib(image.blobBytes()),
        holder,
        Bench.seconds(preloadSeconds),
        Bench.mib(preloadBytes));
    System.out.println(
        "| containerd on "
            + reader
            + " pulls the image | pull (fetch + unpack) | vs the registry | bytes from the"
            + " registry | bytes the node's mirror served from a peer / from its own store |");
    System.out.println("| --- | ---: | ---: | ---: | ---: |");
    System.out.printf(
        Locale.ROOT,
        "| from the registry (baseline) | %s | 1× | %s | - |%n",
        Bench.seconds(direct.seconds()),
        Bench.mib(direct.registryBytes()));
    System.out.printf(
        Locale.ROOT,
        "| through the node's mirror, from %s | %s | %s | %s | %s / %s |%n%n",
        holder,
        Bench.seconds(mirrored.seconds()),
        PublishBenchmark.speedUp(direct.seconds() / mirrored.seconds()),
        Bench.mib(mirrored.registryBytes()),
        Bench.mib((long) mirrored.mirrorPeer()),
        Bench.mib((long) mirrored.mirrorLocal()));
    System.out.printf(
        Locale.ROOT,
        "Ratio: containerd's pull of the %s image through the mirror took %s of the pull from the"
            + " registry (%s against %s).%n%n",
        Bench.mib(image.bytes()),
        Bench.ratio(mirrored.seconds() / direct.seconds()),
        Bench.seconds(mirrored.seconds()),
        Bench.seconds(direct.seconds()));
    System.out.println(
        "| 3 nodes pull the image at once | slowest pull | bytes the registry served |");
    System.out.println("| --- | ---: | ---: |");
    System.out.printf(
        Locale.ROOT,
        "| each from the registry | %s | %s |%n",
        Bench.seconds(directAll.stream().mapToDouble(Pull::seconds).max().orElseThrow()),
        Bench.mib(directAllBytes));
    System.out.printf(
        Locale.ROOT,
        "| each through its node's mirror (%s preloaded by layerns, counted here) | %s | %s + %s"
            + " preload = %s |%n%n",
        holder,
        Bench.seconds(mirroredAll.stream().mapToDouble(Pull::seconds).max().orElseThrow()),
        Bench.mib(mirroredAllBytes),
        Bench.mib(preloadBytes),
        Bench.mib(mirroredAllBytes + preloadBytes));
    System.out.printf(
        Locale.ROOT,
        "Registry bytes saved: %s of %s (%.0f%%) when 3 nodes pull the same image through their"
            + " mirrors, the preload included.%n",
        Bench.mib(directAllBytes - mirroredAllBytes - preloadBytes),
        Bench.mib(directAllBytes),
        100.0 * (directAllBytes - mirroredAllBytes - preloadBytes) / directAllBytes);
  }

  private List<Pull> pullAll(List<String> nodes, String hostsDir) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(nodes.size());
    try {
      List<Future<Pull>> futures = new ArrayList<>();
      for (String n : nodes) {
        futures.add(pool.submit((Callable<Pull>) () -> pull(n, hostsDir)));
      }
      List<Pull> out = new ArrayList<>();
      for (Future<Pull> f : futures) {
        out.add(f.get());
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  private Pull pull(String node, String hostsDir) throws IOException {
    ClusterNode n = cluster.node(node);
    long mark = registryLines();
    var before = mirrorMetrics(node);
    long t = System.nanoTime();
    // --local: ctr pulls itself and drops its lease at the end; through the transfer service the
    // content stayed after `images rm --sync` and the next pull would have found it.
    n.ctr("images", "pull", "--local", "--hosts-dir", hostsDir, image.reference());
    double seconds = (System.nanoTime() - t) / 1e9;
    var after = mirrorMetrics(node);
    Pull p =
        new Pull(
            node, seconds, registryBytesSince(mark), after[0] - before[0], after[1] - before[1]);
    log("%s pulled via %s in %.2f s: %s", node, hostsDir, seconds, p);
    return p;
  }

  /**
   * Removes the image from {@code node}'s containerd and waits until its layers' content is gone.
   */
  private void forget(String node) {
    ClusterNode n = cluster.node(node);
    n.ctr("images", "rm", "--sync", image.reference());
    List<String> digests = image.layers().stream().map(l -> l.digest().toString()).toList();
    await("the image's content gone from " + node + "'s containerd")
        .atMost(Duration.ofMinutes(3))
        .until(
            () -> {
              String content = n.ctr("content", "ls", "-q");
              return digests.stream().noneMatch(content::contains);
            });
  }

  /** [bytes served from peers, from the store] by the node's mirror so far. */
  private double[] mirrorMetrics(String node) {
    ClusterNode n = cluster.node(node);
    var m =
        io.layerns.system.PrometheusText.samples(
            n.exec("curl", "-sSf", "--max-time", "10", "http://" + n.ip() + ":9809/metrics"));
    return new double[] {
      m.getOrDefault("layerns_node_mirror_served_bytes_total{source=\"peer\"}", 0.0),
      m.getOrDefault("layerns_node_mirror_served_bytes_total{source=\"local\"}", 0.0)
    };
  }

  private long registryLines() throws IOException {
    try (var lines = Files.lines(cluster.registryLog())) {
      return lines.count();
    }
  }

  /** Bytes the registry wrote in responses logged after line {@code mark}. */
  private long registryBytesSince(long mark) throws IOException {
    long sum = 0;
    try (var lines = Files.lines(cluster.registryLog())) {
      for (String l : lines.skip(mark).toList()) {
        if (!l.contains("response completed")) {
          continue;
        }
        Matcher m = WRITTEN.matcher(l);
        if (m.find()) {
          sum += Long.parseLong(m.group(1));
        }
      }
    }
    return sum;
  }

  private String awaitSingleHolder() {
    List<String> found = new ArrayList<>();
    await("one node holds every layer of " + image.reference())
        .atMost(Duration.ofMinutes(15))
        .pollInterval(Duration.ofMillis(500))
        .untilAsserted(
            () -> {
              found.clear();
              for (var l : image.layers()) {
                List<String> h =
                    io.layerns.system.ClusterPods.presentHolders(client, l.digest().toString());
                if (h.size() != 1) {
                  throw new AssertionError(l.digest() + " is held by " + h);
                }
                found.addAll(h);
              }
              if (Set.copyOf(found).size() != 1) {
                throw new AssertionError("layers held by " + found);
              }
            });
    return found.getFirst();
  }
}
