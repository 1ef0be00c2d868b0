package io.layerns.bench;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.Trees;
import io.layerns.system.ClusterInstall;
import io.layerns.system.KubeletMounts;
import io.layerns.system.PublishImage;
import io.layerns.system.PublishRegistry;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.ClusterNode;
import io.layerns.testing.cluster.TestCluster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/**
 * Pod start on a real cluster: a pod on a node without the image, going Running with the image as a
 * layerns CSI inline volume read from the node that holds it, against the same image as the pod's
 * own container image, pulled and unpacked by the node's containerd from the cluster's registry.
 * Both sides are "a pod, created, Running", on the same node, in the same run.
 *
 * <p>The cluster is {@link TestCluster} (as {@code ClusterE2EIT} runs it: three nodes, each a
 * kubelet v1.35 with its own containerd 2.x; Debian's docker-registry over plain HTTP), with
 * layerns installed by {@code kubectl apply -k hack/local-cluster} from the image this checkout
 * built (target/image). The image: the publish benchmark's four gzip layers ({@link
 * PublishBenchmark#writeLayers}) on a busybox layer, so that containerd can run it; 256 MiB of
 * files in quick mode, 1 GiB with {@code BENCH_FULL=1}. A LayerNamespace (replicas 1) preloads it
 * on one node; every timed pod runs on another. Between runs the pod goes and the node forgets the
 * image: containerd's copy is removed with its content and snapshots, and layerns's mounts and
 * copies are gone, so every run is cold for that node. Run as root in a private mount namespace
 * (hack/bench.sh does).
 */
public final class ClusterPodStartBenchmark {
  private static final String NAMESPACE = "bench";
  private static final String LAYER_NAMESPACE = "bench";
  private static final String BUSYBOX = ClusterInstall.BUSYBOX;
  private static final String PULL =
      "containerd pulls and unpacks it from the registry (the pod's container image; baseline)";
  private static final Duration POD_TIMEOUT = Duration.ofMinutes(5);
  private static final Duration CLEAN_TIMEOUT = Duration.ofMinutes(3);
  private static final Pattern PLUGIN_LOG_TIME = Pattern.compile("\"timestamp\":(\\d+)");
  private static final Pattern PULLED =
      Pattern.compile("Successfully pulled image \"[^\"]*\" in (\\S+) ");

  /** The image in the cluster's registry, and what a pod must find in it. */
  record Image(
      long bytes,
      String repository,
      String reference,
      List<PublishImage.LayerInfo> layers,
      long blobBytes,
      int files,
      String smallFile,
      String smallFileSha256) {}

  /**
   * One timed pod: seconds from create to Running; of those, the image's own step (containerd's
   * pull, or the volume's NodePublishVolume); the registry requests from its node.
   */
  record Run(double seconds, long registryRequests, double imageStepSeconds) {}

  private final TestCluster cluster;
  private final KubernetesClient client;
  private Image image;
  private String holder;
  private String reader;
  private Transport transport;
  private Set<String> readerMountsBefore;

  private ClusterPodStartBenchmark(TestCluster cluster) {
    this.cluster = cluster;
    this.client = cluster.client();
  }

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    KubeletMounts.assumeRootInPrivateMountNamespace();
    long size = Bench.full() ? 1L << 30 : 256L << 20;
    int runs = Integer.getInteger("bench.clusterRuns", 3);
    List<Transport> transports = List.of(Transport.Sshfs, Transport.Copy);
    Path work = Files.createTempDirectory("layerns-cluster-bench");
    try {
      // The image first: building it takes the cores the cluster would otherwise idle on.
      long t = System.nanoTime();
      PublishBenchmark.Layers layers =
          PublishBenchmark.writeLayers(Files.createDirectories(work.resolve("image")), size);
      Path busybox = busyboxLayer(work.resolve("busybox.tar.gz"));
      log("built the %s image in %.1f s", Bench.mib(size), (System.nanoTime() - t) / 1e9);
      t = System.nanoTime();
      try (TestCluster cluster = ClusterInstall.startWithLayerns(3)) {
        log("cluster ready, layerns installed, in %.1f s", (System.nanoTime() - t) / 1e9);
        ClusterPodStartBenchmark bench = new ClusterPodStartBenchmark(cluster);
        bench.install();
        bench.push(size, layers, busybox);
        double preload = bench.preload();
        bench.run(runs, transports, preload);
      }
    } finally {
      Trees.delete(work);
    }
    System.exit(0);
  }

  private static void log(String format, Object... args) {
    System.err.printf(Locale.ROOT, "bench: cluster: " + format + "%n", args);
  }

  // ---- setting up -----------------------------------------------------------------------------

  /** The benchmark's namespace; layerns itself is installed by {@link ClusterInstall}. */
  private void install() {
    cluster.kubectl("create", "namespace", NAMESPACE);
  }

  /** Pushes the busybox layer and the benchmark's layers, its config and manifest. */
  private void push(long size, PublishBenchmark.Layers built, Path busybox) throws Exception {
    image = pushImage(cluster, size, built, busybox);
  }

  /** Pushes {@code busybox} and {@code built} as one image to the cluster's registry. */
  static Image pushImage(
      TestCluster cluster, long size, PublishBenchmark.Layers built, Path busybox)
      throws Exception {
    PublishRegistry registry =
        PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]));
    String repository = "bench/pod-" + (size >> 20) + "m";
    byte[] busyboxBlob = Files.readAllBytes(busybox);
    List<PublishImage.LayerInfo> infos = new ArrayList<>();
    infos.add(
        new PublishImage.LayerInfo(
            Digest.of(busyboxBlob), busyboxBlob.length, Digest.of(gunzip(busyboxBlob))));
    infos.addAll(built.infos());
    List<Path> blobs = new ArrayList<>();
    blobs.add(busybox);
    blobs.addAll(built.blobs());
    byte[] config = PublishImage.config(infos);
    byte[] manifest = PublishImage.manifest(config, infos);
    long t = System.nanoTime();
    for (int i = 0; i < blobs.size(); i++) {
      registry.pushBlob(
          repository, infos.get(i).digest(), HttpRequest.BodyPublishers.ofFile(blobs.get(i)));
    }
    registry.pushBlob(
        repository, Digest.of(config), HttpRequest.BodyPublishers.ofByteArray(config));
    registry.pushManifest(repository, PublishImage.MANIFEST_TYPE, manifest, "v1");
    log("pushed in %.1f s", (System.nanoTime() - t) / 1e9);
    return new Image(
        size,
        repository,
        ClusterNetwork.registryHost() + "/" + repository + "@" + Digest.of(manifest),
        List.copyOf(infos),
        infos.stream().mapToLong(PublishImage.LayerInfo::size).sum(),
        built.contents().size(),
        built.smallFile(),
        sha256(built.smallFileContent()));
  }

  /**
   * A LayerNamespace that keeps one copy and preloads the image; returns the seconds until one node
   * held every layer. The reader is another node, once its agent acted on a spec without a preload
   * (while nodes join, the operator may hand the preload to one node and then to another).
   */
  private double preload() {
    long t = System.nanoTime();
    applyNamespace(Transport.Sshfs);
    List<String> found = new ArrayList<>();
    await("one node holds every layer of " + image.reference())
        .atMost(Duration.ofMinutes(15))
        .pollInterval(Duration.ofMillis(500))
        .untilAsserted(
            () -> {
              found.clear();
              for (PublishImage.LayerInfo l : image.layers()) {
                List<String> h = holders(l.digest());
                if (h.size() != 1) {
                  throw new AssertionError(l.digest() + " is held by " + h);
                }
                found.addAll(h);
              }
              if (Set.copyOf(found).size() != 1) {
                throw new AssertionError("layers held by " + found);
              }
            });
    double seconds = (System.nanoTime() - t) / 1e9;
    holder = found.getFirst();
    reader =
        cluster.nodes().stream()
            .map(ClusterNode::name)
            .filter(n -> !n.equals(holder))
            .findFirst()
            .orElseThrow();
    await(reader + " acted on a spec without a preload")
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName(reader).get();
              return s != null
                  && s.getStatus() != null
                  && (s.getSpec().preloadImages() == null || s.getSpec().preloadImages().isEmpty())
                  && s.getMetadata().getGeneration().equals(s.getStatus().observedGeneration());
            });
    readerMountsBefore = layernsMounts(reader);
    log(
        "%s preloaded on %s in %.1f s; pods run on %s",
        Bench.mib(image.bytes()), holder, seconds, reader);
    return seconds;
  }

  /**
   * The namespace with {@code transport}: one copy of each layer; a copy nobody owns or reads goes
   * after 1 s; the owner's copy counts as verified for an hour, so dropping a Copy run's extra
   * copies does not make the holder re-read its own between runs.
   */
  private void applyNamespace(Transport t) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(LAYER_NAMESPACE).build());
    ns.setSpec(new LayerNamespaceSpec(null, 1, t, 1, 300, null, List.of(image.reference()), 3600));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  /** Sets the namespace's transport and waits until the reader's store spec carries it. */
  private void useTransport(Transport t) {
    if (t == transport) {
      return;
    }
    applyNamespace(t);
    await(reader + "'s spec says " + t)
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName(reader).get();
              return s != null
                  && s.getSpec() != null
                  && s.getSpec().transport() == t
                  && s.getStatus() != null
                  && s.getMetadata().getGeneration().equals(s.getStatus().observedGeneration());
            });
    transport = t;
  }

  // ---- the runs -------------------------------------------------------------------------------

  private void run(int runs, List<Transport> transports, double preload) throws Exception {
    List<String> methods = new ArrayList<>();
    methods.add(PULL);
    for (Transport t : transports) {
      methods.add(method(t));
    }
    Map<String, List<Run>> byMethod = new LinkedHashMap<>();
    methods.forEach(m -> byMethod.put(m, new ArrayList<>()));
    // One untimed round first: the first pod on a node pays for what later pods find ready.
    for (int i = -1; i < runs; i++) {
      Run pulled = pullRun(i);
      log(
          "run %d, %s: Running after %.2f s (containerd's pull %.2f s)",
          i, "pull", pulled.seconds(), pulled.imageStepSeconds());
      if (i >= 0) {
        byMethod.get(PULL).add(pulled);
      }
      for (Transport t : transports) {
        Run r = volumeRun(t, i);
        log(
            "run %d, %s: Running after %.2f s (NodePublishVolume %.2f s)",
            i, t, r.seconds(), r.imageStepSeconds());
        if (i >= 0) {
          byMethod.get(method(t)).add(r);
        }
      }
    }
    report(byMethod, runs, preload);
  }

  private String method(Transport t) {
    return t == Transport.Sshfs
        ? "layerns CSI volume over Sshfs (remote mounts of " + holder + "'s layers)"
        : "layerns CSI volume over Copy (fetched from " + holder + ", verified, kept)";
  }

  /** The baseline: the image is the pod's container image; containerd pulls and unpacks it. */
  private Run pullRun(int run) throws Exception {
    String name = "pull-" + (run + 1);
    Pod pod =
        pod(name)
            .addNewContainer()
            .withName("app")
            .withImage(image.reference())
            .withImagePullPolicy("IfNotPresent")
            .withCommand("/bin/sh", "-c", checkScript("/"))
            .endContainer()
            .endSpec()
            .build();
    long before = registryRequestsFrom(reader);
    double seconds = createAndAwaitRunning(pod);
    awaitChecked(name);
    double pull = pulledSeconds(name);
    long requests = registryRequestsFrom(reader) - before;
    deletePod(name);
    forgetImageInContainerd();
    return new Run(seconds, requests, pull);
  }

  /** A busybox pod with the image as a read-only layerns CSI inline volume. */
  private Run volumeRun(Transport t, int run) throws Exception {
    useTransport(t);
    String name = "volume-" + t.name().toLowerCase(Locale.ROOT) + "-" + (run + 1);
    Pod pod =
        pod(name)
            .addNewContainer()
            .withName("app")
            .withImage(BUSYBOX)
            .withImagePullPolicy("Never")
            .withCommand("sh", "-c", checkScript("/image/"))
            .addNewVolumeMount()
            .withName("image")
            .withMountPath("/image")
            .withReadOnly(true)
            .endVolumeMount()
            .endContainer()
            .addNewVolume()
            .withName("image")
            .withNewCsi()
            .withDriver("csi.layerns.io")
            .withReadOnly(true)
            .withVolumeAttributes(Map.of("image", image.reference()))
            .endCsi()
            .endVolume()
            .endSpec()
            .build();
    long before = registryRequestsFrom(reader);
    java.time.Instant created = java.time.Instant.now();
    double seconds = createAndAwaitRunning(pod);
    awaitChecked(name);
    long requests = registryRequestsFrom(reader) - before;
    double publish = publishSeconds(created);
    // The check below waits for these mounts to go; they must be there now.
    if (layernsMounts(reader).equals(readerMountsBefore)) {
      throw new IllegalStateException(name + "'s volume shows no layerns mount on " + reader);
    }
    deletePod(name);
    awaitReaderForgotLayerns();
    return new Run(seconds, requests, publish);
  }

  /**
   * Seconds from the reader's node plugin's first NodePublishVolume call to its last response since
   * {@code since}, by the plugin's own log (epoch-millisecond timestamps): the volume's share of
   * the pod's start.
   */
  private double publishSeconds(java.time.Instant since) {
    String plugin =
        client
            .pods()
            .inNamespace("layerns-system")
            .withLabel("app.kubernetes.io/name", "layerns-node-plugin")
            .list()
            .getItems()
            .stream()
            .filter(p -> reader.equals(p.getSpec().getNodeName()))
            .map(p -> p.getMetadata().getName())
            .findFirst()
            .orElseThrow();
    long first = Long.MAX_VALUE;
    long last = Long.MIN_VALUE;
    String logs =
        cluster.kubectl(
            "-n",
            "layerns-system",
            "logs",
            plugin,
            "-c",
            "node-plugin",
            "--since-time=" + since.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
    for (String line : logs.lines().toList()) {
      Matcher m = PLUGIN_LOG_TIME.matcher(line);
      if (!m.find() || !line.contains("NodePublishVolume")) {
        continue;
      }
      long at = Long.parseLong(m.group(1));
      if (line.contains("GRPC call ")) {
        first = Math.min(first, at);
      } else if (line.contains("GRPC response ")) {
        last = Math.max(last, at);
      }
    }
    if (first == Long.MAX_VALUE || last < first) {
      throw new IllegalStateException("no NodePublishVolume call and response in:\n" + logs);
    }
    return (last - first) / 1e3;
  }

  private PodBuilder.SpecNested<PodBuilder> pod(String name) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(NAMESPACE)
        .endMetadata()
        .withNewSpec()
        .withNodeSelector(Map.of("kubernetes.io/hostname", reader))
        .withRestartPolicy("Never")
        .withTerminationGracePeriodSeconds(1L);
  }

  /**
   * What the pod runs once started: it says how many files the image's four data layers show under
   * {@code root} and the sha256 of one small file, then stays.
   */
  private String checkScript(String root) {
    return "cd "
        + root
        + " && s=$(sha256sum "
        + image.smallFile()
        + " | cut -d' ' -f1) && n=$(find l0 l1 l2 l3 -type f | wc -l)"
        + " && echo CHECKED $n $s && exec sleep 3600";
  }

  /**
   * Creates the pod (the request {@code kubectl apply} sends) and returns the seconds until a
   * watch, opened before, shows it Running.
   */
  private double createAndAwaitRunning(Pod pod) throws Exception {
    String name = pod.getMetadata().getName();
    CompletableFuture<Long> running = new CompletableFuture<>();
    try (Watch ignored =
        client
            .pods()
            .inNamespace(NAMESPACE)
            .withName(name)
            .watch(
                new Watcher<>() {
                  @Override
                  public void eventReceived(Action action, Pod p) {
                    long now = System.nanoTime();
                    String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
                    if ("Running".equals(phase)) {
                      running.complete(now);
                    } else if ("Failed".equals(phase) || "Succeeded".equals(phase)) {
                      running.completeExceptionally(
                          new IllegalStateException(name + " ended " + phase));
                    }
                  }

                  @Override
                  public void onClose(WatcherException e) {
                    running.completeExceptionally(
                        new IllegalStateException("the watch of " + name + " closed", e));
                  }
                })) {
      long start = System.nanoTime();
      client.resource(pod).create();
      try {
        return (running.get(POD_TIMEOUT.toSeconds(), TimeUnit.SECONDS) - start) / 1e9;
      } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException(
            name
                + " did not go Running:\n"
                + cluster.kubectl("-n", NAMESPACE, "describe", "pod", name),
            e);
      }
    }
  }

  /** Waits for the pod's check and fails unless it saw every file and the small file's sum. */
  private void awaitChecked(String name) {
    String[] line = new String[1];
    await(name + " checked its image")
        .atMost(POD_TIMEOUT)
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> {
              Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
              String log = cluster.kubectl("-n", NAMESPACE, "logs", name);
              if (!"Running".equals(p.getStatus().getPhase())) {
                throw new IllegalStateException(name + " stopped: " + log);
              }
              line[0] = log.lines().filter(l -> l.startsWith("CHECKED ")).findFirst().orElse(null);
              return line[0] != null;
            });
    String expected = "CHECKED " + image.files() + " " + image.smallFileSha256();
    if (!line[0].strip().equals(expected)) {
      throw new IllegalStateException(
          name + " saw another image: \"" + line[0] + "\", not \"" + expected + "\"");
    }
  }

  /**
   * containerd's own pull time, as the kubelet's Pulled event gives it; fails unless the event says
   * the image was pulled (not "already present"), so a run that found it cannot pass for a pull.
   */
  private double pulledSeconds(String name) {
    String[] message = new String[1];
    await("the kubelet's Pulled event for " + name)
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              for (Event e : client.v1().events().inNamespace(NAMESPACE).list().getItems()) {
                if (name.equals(e.getInvolvedObject().getName())
                    && "Pulled".equals(e.getReason())) {
                  message[0] = e.getMessage();
                  return true;
                }
              }
              return false;
            });
    Matcher m = PULLED.matcher(message[0]);
    if (!m.find()) {
      throw new IllegalStateException(name + " did not pull its image: " + message[0]);
    }
    return goDurationSeconds(m.group(1));
  }

  private void deletePod(String name) {
    client.pods().inNamespace(NAMESPACE).withName(name).delete();
    await(name + " gone")
        .atMost(POD_TIMEOUT)
        .until(() -> client.pods().inNamespace(NAMESPACE).withName(name).get() == null);
  }

  // ---- a cold node for every run --------------------------------------------------------------

  /**
   * Removes the image from the reader's containerd once no container uses it, and waits until its
   * layers' content and snapshots are gone: the next pull must fetch and unpack every byte.
   */
  private void forgetImageInContainerd() {
    ClusterNode node = cluster.node(reader);
    await("no container on " + reader + " runs " + image.repository())
        .atMost(CLEAN_TIMEOUT)
        .until(() -> !node.ctr("containers", "ls").contains(image.repository()));
    List<String> digests = image.layers().stream().map(l -> l.digest().toString()).toList();
    List<String> chains = chainIds(image.layers());
    // What the check below waits to see gone must be there now, or it would prove nothing.
    String pulledContent = node.ctr("content", "ls", "-q");
    String pulledSnapshots = node.ctr("snapshots", "ls");
    for (String d : digests) {
      if (!pulledContent.contains(d)) {
        throw new IllegalStateException(reader + "'s containerd has no content " + d);
      }
    }
    for (String c : chains) {
      if (!pulledSnapshots.contains(c)) {
        throw new IllegalStateException(
            reader + "'s containerd has no snapshot " + c + ":\n" + pulledSnapshots);
      }
    }
    String config = Digest.of(PublishImage.config(image.layers())).toString();
    List<String> refs =
        node.ctr("images", "ls", "-q")
            .lines()
            .map(String::strip)
            .filter(r -> r.contains(image.repository()) || r.equals(config))
            .toList();
    if (!refs.isEmpty()) {
      List<String> rm = new ArrayList<>(List.of("images", "rm", "--sync"));
      rm.addAll(refs);
      node.ctr(rm.toArray(String[]::new));
    }
    await("the image's content and snapshots gone from " + reader + "'s containerd")
        .atMost(CLEAN_TIMEOUT)
        .until(
            () -> {
              String content = node.ctr("content", "ls", "-q");
              String snapshots = node.ctr("snapshots", "ls");
              return digests.stream().noneMatch(content::contains)
                  && chains.stream().noneMatch(snapshots::contains);
            });
  }

  /** The snapshot names containerd gives an image's unpacked layers (OCI chain IDs). */
  static List<String> chainIds(List<PublishImage.LayerInfo> layers) {
    List<String> out = new ArrayList<>();
    String chain = null;
    for (PublishImage.LayerInfo l : layers) {
      chain =
          chain == null
              ? l.diffId().toString()
              : Digest.of((chain + " " + l.diffId()).getBytes(StandardCharsets.US_ASCII))
                  .toString();
      out.add(chain);
    }
    return out;
  }

  /**
   * Waits until the reader has let go of the image: no layerns mount beyond those it had before the
   * first run, no copy of any of the image's layers, no published volume.
   */
  private void awaitReaderForgotLayerns() {
    Set<String> digests =
        image.layers().stream().map(l -> l.digest().toString()).collect(Collectors.toSet());
    await(reader + " let go of the image's layers")
        .atMost(CLEAN_TIMEOUT)
        .pollInterval(Duration.ofMillis(200))
        .until(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName(reader).get();
              boolean noCopy =
                  s.getStatus().layers() == null
                      || s.getStatus().layers().stream()
                          .map(HeldLayer::digest)
                          .noneMatch(digests::contains);
              boolean noVolume =
                  s.getStatus().volumes() == null || s.getStatus().volumes().isEmpty();
              return noCopy && noVolume && layernsMounts(reader).equals(readerMountsBefore);
            });
  }

  /** The mount points in {@code node} that layerns makes: its store, remote mounts, volumes. */
  private Set<String> layernsMounts(String node) {
    return cluster
        .node(node)
        .exec("cat", "/proc/self/mountinfo")
        .lines()
        .map(l -> l.split(" "))
        .filter(
            f ->
                f[4].contains("/var/lib/layerns")
                    || f[4].contains("kubernetes.io~csi")
                    || List.of(f).contains("fuse.sshfs"))
        .map(f -> f[4])
        .collect(Collectors.toSet());
  }

  private List<String> holders(Digest digest) {
    Layer l =
        client.resources(Layer.class).withName(CrdConstants.layerName(digest.toString())).get();
    if (l == null || l.getStatus() == null || l.getStatus().holders() == null) {
      return List.of();
    }
    return l.getStatus().holders().stream()
        .filter(h -> h.state() == CopyState.Present)
        .map(LayerHolder::node)
        .sorted()
        .toList();
  }

  /** Requests the cluster's registry logged from {@code node}'s address. */
  private long registryRequestsFrom(String node) throws IOException {
    String ip = cluster.node(node).ip();
    return Files.readAllLines(cluster.registryLog()).stream()
        .filter(l -> l.contains("remoteaddr=" + ip + ":") || l.contains("remoteaddr=\"" + ip + ":"))
        .count();
  }

  // ---- the report -----------------------------------------------------------------------------

  private void report(Map<String, List<Run>> byMethod, int runs, double preload) {
    System.out.printf(
        Locale.ROOT,
        "The real test cluster (`TestCluster`, as `ClusterE2EIT` runs it): 3 nodes, each a kubelet"
            + " v1.35 with its own containerd 2.x, Debian's docker-registry at %s over plain HTTP;"
            + " layerns installed with `kubectl apply -k hack/local-cluster` from the image this"
            + " checkout built. The image: %s of files in four gzip layers (%,d files; many small"
            + " text files, medium files and a few large binaries) on a busybox layer, %s of gzip"
            + " blobs. A LayerNamespace (replicas 1) preloaded it on %s (%s); every pod ran on %s,"
            + " which never held it. Time from the pod's create request (what `kubectl apply`"
            + " sends) to the watch event that shows it Running; %d runs per method after one"
            + " untimed, interleaved; median (min-max). Between runs the pod was deleted and %s"
            + " forgot the image: containerd's copy removed (`ctr images rm --sync`; its layers'"
            + " content and snapshots checked gone), and layerns's mounts, copies and volume gone."
            + " Each pod then checked its image (the number of files and the sha256 of one small"
            + " file) before the next run.%n%n",
        ClusterNetwork.registryHost(),
        Bench.mib(image.bytes()),
        image.files(),
        Bench.mib(image.blobBytes()),
        holder,
        Bench.seconds(preload),
        reader,
        runs,
        reader);
    System.out.println(
        "| image (uncompressed) | how the pod on the image-less node gets it | pod created →"
            + " Running | speed-up vs containerd's pull (pull ÷ this) | of which the image's own"
            + " step: containerd's pull (kubelet's Pulled event) or NodePublishVolume (plugin's"
            + " log) | registry requests from the node per run |");
    System.out.println("| ---: | --- | ---: | ---: | ---: | ---: |");
    double pull = samples(byMethod.get(PULL), Run::seconds).median();
    for (var e : byMethod.entrySet()) {
      Bench.Samples s = samples(e.getValue(), Run::seconds);
      System.out.printf(
          Locale.ROOT,
          "| %s | %s | %s | %s | %s | %s |%n",
          Bench.mib(image.bytes()),
          e.getKey(),
          PublishBenchmark.spread(s),
          e.getKey().equals(PULL) ? "1×" : PublishBenchmark.speedUp(pull / s.median()),
          PublishBenchmark.spread(samples(e.getValue(), Run::imageStepSeconds)),
          requests(e.getValue()));
    }
    System.out.println();
    String sshfs = byMethod.keySet().stream().filter(m -> m.contains("Sshfs")).findFirst().get();
    double sshfsMedian = samples(byMethod.get(sshfs), Run::seconds).median();
    System.out.printf(
        Locale.ROOT,
        "Ratio: the pod whose %s image is a layerns volume over Sshfs went Running %s than the pod"
            + " whose image containerd pulled (%s against %s).%n",
        Bench.mib(image.bytes()),
        PublishBenchmark.speedUp(pull / sshfsMedian),
        Bench.seconds(sshfsMedian),
        Bench.seconds(pull));
  }

  private static Bench.Samples samples(
      List<Run> runs, java.util.function.ToDoubleFunction<Run> figure) {
    Bench.Samples s = new Bench.Samples();
    runs.forEach(r -> s.add(figure.applyAsDouble(r)));
    return s;
  }

  private static String requests(List<Run> runs) {
    long min = runs.stream().mapToLong(Run::registryRequests).min().orElseThrow();
    long max = runs.stream().mapToLong(Run::registryRequests).max().orElseThrow();
    return min == max ? Long.toString(min) : min + "-" + max;
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * A layer with the machine's static busybox ({@code /bin/busybox}, Debian's busybox-static, as
   * the test cluster's busybox image has it) and the applets the check runs, so that containerd can
   * run the image; gzip, written to {@code blob}.
   */
  static Path busyboxLayer(Path blob) throws IOException {
    byte[] busybox = Files.readAllBytes(Path.of("/bin/busybox"));
    ByteArrayOutputStream tar = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(tar)) {
      TarArchiveEntry dir = new TarArchiveEntry("bin/");
      dir.setMode(0755);
      out.putArchiveEntry(dir);
      out.closeArchiveEntry();
      TarArchiveEntry bin = new TarArchiveEntry("bin/busybox");
      bin.setMode(0755);
      bin.setSize(busybox.length);
      out.putArchiveEntry(bin);
      out.write(busybox);
      out.closeArchiveEntry();
      for (String applet : List.of("sh", "sha256sum", "cut", "find", "wc", "sleep")) {
        TarArchiveEntry link = new TarArchiveEntry("bin/" + applet, TarArchiveEntry.LF_SYMLINK);
        link.setLinkName("busybox");
        out.putArchiveEntry(link);
        out.closeArchiveEntry();
      }
    }
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GzipCompressorOutputStream out = new GzipCompressorOutputStream(gz)) {
      out.write(tar.toByteArray());
    }
    Files.write(blob, gz.toByteArray());
    return blob;
  }

  private static byte[] gunzip(byte[] gz) throws IOException {
    try (var in =
        new org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream(
            new java.io.ByteArrayInputStream(gz))) {
      return in.readAllBytes();
    }
  }

  private static String sha256(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  /** A Go duration as the kubelet prints it ({@code 950ms}, {@code 12.3s}, {@code 1m2.5s}). */
  static double goDurationSeconds(String d) {
    Matcher m = Pattern.compile("([0-9.]+)(h|ms|m|s|µs|us|ns)").matcher(d);
    double seconds = 0;
    int end = 0;
    while (m.find() && m.start() == end) {
      double v = Double.parseDouble(m.group(1));
      seconds +=
          switch (m.group(2)) {
            case "h" -> v * 3600;
            case "m" -> v * 60;
            case "s" -> v;
            case "ms" -> v / 1e3;
            case "µs", "us" -> v / 1e6;
            default -> v / 1e9;
          };
      end = m.end();
    }
    if (end == 0 || end != d.length()) {
      throw new IllegalArgumentException("not a Go duration: " + d);
    }
    return seconds;
  }
}
