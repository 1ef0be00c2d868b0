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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * containerd's own pull ({@code ctr images pull}, the real containerd 2.x of a test cluster node,
 * fetch and unpack) of one image through the node's layerns registry mirror, which fetches it from
 * the peer that holds it, against the same pull from the registry on another node, in one run; then
 * the registry bytes three nodes' pulls cost without and with the mirrors, counted from the
 * registry's own log. No node pulls twice: containerd does not free pulled content reliably.
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
    log("preloaded on %s in %.1f s (%,d registry bytes)", holder, preloadSeconds, preloadBytes);

    // No node pulls twice: containerd never freed an image's content after `ctr images rm
    // --sync` (leases, and content shared between namespaces), so the baseline and the mirror's
    // pull run on two different nodes that never had the image, one after the other.
    Pull direct = pull(others.get(0), DIRECT_HOSTS);
    if (direct.registryBytes() < image.blobBytes()) {
      throw new IllegalStateException(
          "the registry's log counts "
              + direct.registryBytes()
              + " bytes for a pull of "
              + image.blobBytes()
              + " bytes of blobs: its lines are not what this benchmark reads");
    }
    Pull mirrored = pull(others.get(1), ClusterNode.CONTAINERD_HOSTS_DIR);
    if (mirrored.mirrorPeer() <= 0) {
      throw new IllegalStateException(
          "the mirror of "
              + mirrored.node()
              + " served no byte from a peer during its pull: containerd did not pull through it");
    }
    // The holder's containerd pulls too, through its own mirror (from its layer store).
    Pull local = pull(holder, ClusterNode.CONTAINERD_HOSTS_DIR);
    log(
        "direct %.2f s, mirror %.2f s, holder %.2f s",
        direct.seconds(), mirrored.seconds(), local.seconds());
    report(holder, preloadSeconds, preloadBytes, direct, mirrored, local);
  }

  private void report(
      String holder,
      double preloadSeconds,
      long preloadBytes,
      Pull direct,
      Pull mirrored,
      Pull local) {
    System.out.printf(
        Locale.ROOT,
        "The real test cluster (`TestCluster`): 3 nodes, each a kubelet v1.35 with its own"
            + " containerd 2.x; Debian's docker-registry at %s over plain HTTP; layerns installed"
            + " with `kubectl apply -k hack/local-cluster-mirror`, so every node plugin wrote"
            + " containerd's `hosts.toml` for the registry (this node's mirror first, then the"
            + " registry). The image: %s of files in gzip layers on a busybox layer, %s of gzip"
            + " blobs; a LayerNamespace (replicas 1) preloaded it on %s (%s, %s from the"
            + " registry). Each pull is `ctr images pull --local --hosts-dir` on a node whose"
            + " containerd never had the image (fetch and unpack into containerd's overlayfs"
            + " snapshotter), one at a time, one run each: the baseline on %s with a hosts dir"
            + " naming only the registry, then %s and %s with containerd's own, whose first host"
            + " is the node's mirror. Registry bytes are the `http.response.written` of the"
            + " registry's own log while each pull ran; mirror bytes are the node plugin's"
            + " `layerns_node_mirror_served_bytes_total`.%n%n",
        ClusterNetwork.registryHost(),
        Bench.mib(image.bytes()),
        Bench.mib(image.blobBytes()),
        holder,
        Bench.seconds(preloadSeconds),
        Bench.mib(preloadBytes),
        direct.node(),
        mirrored.node(),
        holder);
    System.out.println(
        "| containerd pulls the image | pull (fetch + unpack) | vs the registry | bytes from the"
            + " registry | bytes the node's mirror served from a peer / from its own store |");
    System.out.println("| --- | ---: | ---: | ---: | ---: |");
    System.out.printf(
        Locale.ROOT,
        "| %s, from the registry (baseline) | %s | 1× | %s | - |%n",
        direct.node(),
        Bench.seconds(direct.seconds()),
        Bench.mib(direct.registryBytes()));
    for (Pull p : List.of(mirrored, local)) {
      System.out.printf(
          Locale.ROOT,
          "| %s, through its mirror%s | %s | %s | %s | %s / %s |%n",
          p.node(),
          p == local ? " (the holder)" : ", from " + holder,
          Bench.seconds(p.seconds()),
          PublishBenchmark.speedUp(direct.seconds() / p.seconds()),
          Bench.mib(p.registryBytes()),
          Bench.mib((long) p.mirrorPeer()),
          Bench.mib((long) p.mirrorLocal()));
    }
    System.out.println();
    System.out.printf(
        Locale.ROOT,
        "Ratio: containerd's pull of the %s image through the mirror from a peer took %s of the"
            + " pull from the registry (%s against %s).%n%n",
        Bench.mib(image.bytes()),
        Bench.ratio(mirrored.seconds() / direct.seconds()),
        Bench.seconds(mirrored.seconds()),
        Bench.seconds(direct.seconds()));
    // Without layerns every node's containerd fetches what the baseline fetched; with the mirrors
    // the registry serves the preload, and each pull only what its mirror does not (the tag, by
    // design, and any blob no node holds). The third node's pull through its mirror is B's again:
    // no third node that never had the image is left to measure it on.
    long without = 3 * direct.registryBytes();
    long with =
        preloadBytes + mirrored.registryBytes() + local.registryBytes() + mirrored.registryBytes();
    System.out.println("| 3 nodes pull the image | bytes the registry served | counted as |");
    System.out.println("| --- | ---: | --- |");
    System.out.printf(
        Locale.ROOT,
        "| without layerns | %s | 3 × the baseline pull's %s (each node fetches the same) |%n",
        Bench.mib(without),
        Bench.mib(direct.registryBytes()));
    System.out.printf(
        Locale.ROOT,
        "| through the mirrors | %s | preload %s + %s's pull %s + %s's pull %s + a third node"
            + " pulling from a peer as %s did, %s again |%n%n",
        Bench.mib(with),
        Bench.mib(preloadBytes),
        holder,
        Bench.mib(local.registryBytes()),
        mirrored.node(),
        Bench.mib(mirrored.registryBytes()),
        mirrored.node(),
        Bench.mib(mirrored.registryBytes()));
    System.out.printf(
        Locale.ROOT,
        "Registry bytes saved: %s of %s (%.0f%%) when 3 nodes pull the same image through their"
            + " mirrors, the preload included; the registry served %s the bytes.%n",
        Bench.mib(without - with),
        Bench.mib(without),
        100.0 * (without - with) / without,
        Bench.ratio((double) with / without));
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
