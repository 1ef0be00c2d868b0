package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.containerd.ContainerdHosts;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.ClusterNode;
import io.layerns.testing.cluster.TestCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * containerd pulls pods' own container images through the node's registry mirror, on a real cluster
 * ({@link TestCluster}: three kubelets, each with its own containerd 2.x) with layerns installed
 * from {@code hack/local-cluster-mirror}: the node plugins write containerd's {@code hosts.toml}
 * for the cluster's two registries (the mirror first, then the plain-HTTP registry), and containerd
 * reads them at each pull.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerdMirrorClusterIT {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdMirrorClusterIT.class);
  private static final String NAMESPACE = "mirror";
  private static final Duration POD_TIMEOUT = Duration.ofSeconds(180);
  private static final TestCluster.RegistryUser PRIVATE_USER =
      new TestCluster.RegistryUser("team", "team-secret");
  private static final int DATA_BYTES = 8 << 20;

  private TestCluster cluster;
  private KubernetesClient client;
  private PublishImage image;
  private String reference;
  private String privateReference;

  @BeforeAll
  void installLayernsWithTheMirror() throws Exception {
    cluster =
        ClusterInstall.startWithLayerns(
            archives ->
                new TestCluster.Options(3, ClusterInstall.PAUSE, archives)
                    .withPrivateRegistry(PRIVATE_USER)
                    .withContainerdHostsFromLayerns(),
            c -> {},
            ClusterInstall.LOCAL_CLUSTER_MIRROR);
    client = cluster.client();
    image = runnableImage(20261204);
    PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]))
        .push("team/app", image.blobs(), PublishImage.MANIFEST_TYPE, image.manifest, "1.0");
    reference = ClusterNetwork.registryHost() + "/team/app@" + image.manifestDigest();
    PublishImage privateImage = runnableImage(20261205);
    PublishRegistry.existing(
            Integer.parseInt(cluster.privateRegistryFromHost().split(":")[1]),
            PRIVATE_USER.name(),
            PRIVATE_USER.password())
        .push(
            "team/private",
            privateImage.blobs(),
            PublishImage.MANIFEST_TYPE,
            privateImage.manifest,
            "1.0");
    privateReference =
        ClusterNetwork.privateRegistryHost() + "/team/private@" + privateImage.manifestDigest();
    cluster.kubectl("create", "namespace", NAMESPACE);
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Order(1)
  void everyNodePluginWroteContainerdsHostsTomlForBothRegistries() {
    for (ClusterNode node : cluster.nodes()) {
      for (String registry :
          List.of(ClusterNetwork.registryHost(), ClusterNetwork.privateRegistryHost())) {
        Path file = node.containerdHostsDir().resolve(registry).resolve("hosts.toml");
        await(file + " written by " + node.name() + "'s plugin")
            .atMost(Duration.ofSeconds(60))
            .until(() -> Files.isRegularFile(file));
        String text = read(file);
        assertThat(text)
            .startsWith(ContainerdHosts.HEADER)
            // The plain-HTTP upstream comes from the plugin's own layerns-registry-hosts.
            .contains("server = \"http://" + registry + "\"")
            .contains("[host.\"http://127.0.0.1:7050\"]")
            .contains("capabilities = [\"pull\", \"resolve\"]");
      }
    }
  }

  /**
   * The must-show: an image preloaded on one node; a pod using it as its container image starts on
   * another node with the registry stopped, containerd pulling it through that node's mirror, which
   * fetched it from the holder.
   */
  @Test
  @Order(2)
  void aPodStartsFromAPreloadedImageOnAnotherNodeWithTheRegistryStopped() throws Exception {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName("mirror").build());
    // One copy, but a copy nobody owns stays 10 minutes before dedup drops it: long enough to see
    // the reader's mirror keep what it fetched.
    ns.setSpec(new LayerNamespaceSpec(null, 1, Transport.Sshfs, 600, 60, null, List.of(reference)));
    client.resource(ns).forceConflicts().serverSideApply();
    String holder = awaitSingleHolder();
    String reader =
        cluster.nodes().stream()
            .map(ClusterNode::name)
            .filter(n -> !n.equals(holder))
            .sorted()
            .toList()
            .getLast();
    LOG.info("{} holds {}; the pod runs on {}", holder, reference, reader);
    assertThat(cluster.node(reader).ctr("images", "ls", "-q")).doesNotContain("team/app");

    cluster.stopRegistry();
    double peerBytesBefore = mirrorBytes(reader, "peer");
    long created = System.nanoTime();
    client.resource(containerPod("from-mirror", reader, reference, null).build()).create();
    awaitRunningAndVerified("from-mirror");
    LOG.info(
        "from-mirror Running and verified {} ms after create, registry stopped",
        Duration.ofNanos(System.nanoTime() - created).toMillis());

    long layerBytes = image.layers.stream().mapToLong(l -> l.blob().length).sum();
    Map<String, Double> readerMetrics = pluginMetrics(reader);
    LOG.info("{}'s mirror metrics: {}", reader, mirrorSamples(readerMetrics));
    assertThat(mirrorBytes(reader, "peer") - peerBytesBefore)
        .as(
            "bytes %s's mirror served that it fetched from a member (layers: %d bytes)",
            reader, layerBytes)
        .isGreaterThanOrEqualTo((double) layerBytes);
    assertThat(cluster.node(reader).ctr("images", "ls", "-q")).contains("team/app");
    // What became of the copies the mirror kept (LAYERNS_MIRROR_KEEP defaults to true), as the
    // reader's plugin tells it: for the report, not a pass condition of this test.
    String pluginPod =
        cluster.kubectl(
            "-n",
            "layerns-system",
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=layerns-node-plugin",
            "--field-selector",
            "spec.nodeName=" + reader,
            "-o",
            "name");
    String digests = String.join("|", image.layers.stream().map(l -> l.digest().hex()).toList());
    LOG.info(
        "{}'s plugin on the pulled layers:\n{}",
        reader,
        cluster
            .kubectl("-n", "layerns-system", "logs", pluginPod.strip(), "-c", "node-plugin")
            .lines()
            .filter(l -> l.matches(".*(" + digests + ").*"))
            .limit(20)
            .reduce("", (a, b) -> a + b + "\n"));
    for (PublishImage.Layer l : image.layers) {
      LOG.info(
          "holders of {} after the pull: {}",
          l.digest(),
          ClusterPods.presentHolders(client, l.digest().toString()));
    }
  }

  /**
   * A private image whose layers a member holds: a pod without the pull secret on another node
   * cannot get it (neither from the mirror, which asks for credentials the registry accepts, nor
   * from the registry); the same pod with the secret runs.
   */
  @Test
  @Order(3)
  void aPrivateImageRunsOnlyForAPodWithThePullSecret() throws Exception {
    PullSecrets.create(
        client,
        NAMESPACE,
        "private-pull",
        ClusterNetwork.privateRegistryHost(),
        PRIVATE_USER.name(),
        PRIVATE_USER.password());
    List<String> names = cluster.nodes().stream().map(ClusterNode::name).sorted().toList();
    String owner = names.getFirst();
    String other = names.get(1);
    // The private image reaches the namespace as a layerns volume of a pod that has the secret.
    client
        .resource(
            ImageVolumePod.builder(
                    NAMESPACE, "private-volume", owner, privateReference, true, "exec sleep 3600")
                .editSpec()
                .editFirstVolume()
                .editCsi()
                .withNodePublishSecretRef(new LocalObjectReference("private-pull"))
                .endCsi()
                .endVolume()
                .endSpec()
                .build())
        .create();
    await("private-volume Running")
        .atMost(POD_TIMEOUT)
        .until(() -> "Running".equals(ClusterPods.phase(client, NAMESPACE, "private-volume")));
    assertThat(cluster.node(other).ctr("images", "ls", "-q")).doesNotContain("team/private");

    // On another node: its mirror is asked and serves nothing (it does not hold the manifest, and
    // peers hand out no private documents), the registry wants credentials: no image.
    Map<String, Double> before = pluginMetrics(other);
    client
        .resource(containerPod("private-no-secret", other, privateReference, null).build())
        .create();
    String reason = awaitPullFailure("private-no-secret");
    Map<String, Double> after = pluginMetrics(other);
    LOG.info(
        "private-no-secret on {}: {}; mirror metrics: {}", other, reason, mirrorSamples(after));
    assertThat(mirrorRequests(after) - mirrorRequests(before))
        .as("%s's containerd asked its mirror first", other)
        .isPositive();
    assertThat(mirrorServedBytes(after))
        .as("%s's mirror served nothing", other)
        .isEqualTo(mirrorServedBytes(before));
    assertThat(cluster.node(other).ctr("images", "ls", "-q")).doesNotContain("team/private");

    // On the node whose store holds every piece of it: its mirror knows the image is private and
    // asks for credentials the registry accepts; containerd has none to show.
    before = pluginMetrics(owner);
    client
        .resource(containerPod("private-no-secret-owner", owner, privateReference, null).build())
        .create();
    reason = awaitPullFailure("private-no-secret-owner");
    after = pluginMetrics(owner);
    LOG.info(
        "private-no-secret-owner on {}: {}; mirror metrics: {}",
        owner,
        reason,
        mirrorSamples(after));
    assertThat(
            after.getOrDefault(mirrorSeries("requests_total", "unauthorized"), 0.0)
                - before.getOrDefault(mirrorSeries("requests_total", "unauthorized"), 0.0))
        .as("%s's mirror answered 401 to the pull without credentials", owner)
        .isPositive();
    assertThat(mirrorServedBytes(after) - mirrorServedBytes(before))
        .as("%s's mirror served none of the private image", owner)
        .isZero();
    assertThat(cluster.node(owner).ctr("images", "ls", "-q")).doesNotContain("team/private");

    // With the secret it runs, on both nodes.
    for (String node : List.of(other, owner)) {
      String name = "private-with-secret-" + node;
      before = pluginMetrics(node);
      client.resource(containerPod(name, node, privateReference, "private-pull").build()).create();
      awaitRunningAndVerified(name);
      LOG.info(
          "{} Running; {}'s mirror metrics before {} after {}",
          name,
          node,
          mirrorSamples(before),
          mirrorSamples(pluginMetrics(node)));
    }
    assertThat(ClusterPods.phase(client, NAMESPACE, "private-no-secret")).isEqualTo("Pending");
    assertThat(ClusterPods.phase(client, NAMESPACE, "private-no-secret-owner"))
        .isEqualTo("Pending");
  }

  private static double mirrorRequests(Map<String, Double> metrics) {
    return sum(metrics, "layerns_node_mirror_requests_total");
  }

  /** Bytes the mirror served from its store or peers (not 404 or 401 bodies). */
  private static double mirrorServedBytes(Map<String, Double> metrics) {
    return metrics.getOrDefault(mirrorSeries("served_bytes_total", "local"), 0.0)
        + metrics.getOrDefault(mirrorSeries("served_bytes_total", "peer"), 0.0);
  }

  private static double sum(Map<String, Double> metrics, String name) {
    return metrics.entrySet().stream()
        .filter(e -> e.getKey().startsWith(name + "{"))
        .mapToDouble(Map.Entry::getValue)
        .sum();
  }

  // ---- the image: a static busybox, a data file and its sum

  /** An image a container runs: busybox (static, from the host) and 8 MiB of seeded data. */
  private static PublishImage runnableImage(long seed) throws Exception {
    byte[] busybox = Files.readAllBytes(Path.of("/bin/busybox"));
    byte[] data = new byte[DATA_BYTES];
    new Random(seed).nextBytes(data);
    String sum = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    List<PublishImage.Entry> bin = new ArrayList<>();
    bin.add(PublishImage.Entry.dir("bin", 0755));
    bin.add(PublishImage.Entry.binary("bin/busybox", 0755, busybox));
    for (String applet : List.of("sh", "sha256sum", "sleep", "cat")) {
      bin.add(PublishImage.Entry.symlink("bin/" + applet, "busybox"));
    }
    List<PublishImage.Entry> payload =
        List.of(
            PublishImage.Entry.dir("data", 0755),
            PublishImage.Entry.binary("data/payload.bin", 0644, data),
            PublishImage.Entry.file("data/sums", 0644, sum + "  /data/payload.bin\n"));
    return new PublishImage(List.of(bin, payload));
  }

  /**
   * A pod running {@code image} as its container on {@code node}: it checks its data, then waits.
   */
  private static PodBuilder containerPod(
      String name, String node, String image, String pullSecret) {
    PodBuilder b =
        new PodBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(NAMESPACE)
            .endMetadata()
            .withNewSpec()
            .withNodeSelector(Map.of("kubernetes.io/hostname", node))
            .withRestartPolicy("Never")
            .withTerminationGracePeriodSeconds(1L)
            .addNewContainer()
            .withName("app")
            .withImage(image)
            .withImagePullPolicy("IfNotPresent")
            .addNewEnv()
            .withName("PATH")
            .withValue("/bin")
            .endEnv()
            .withCommand(
                "/bin/sh", "-c", "sha256sum -c /data/sums && echo VERIFIED && exec sleep 3600")
            .endContainer()
            .endSpec();
    if (pullSecret != null) {
      b.editSpec().addNewImagePullSecret(pullSecret).endSpec();
    }
    return b;
  }

  private void awaitRunningAndVerified(String name) {
    try {
      await(name + " Running and verified")
          .atMost(POD_TIMEOUT)
          .until(
              () -> {
                String phase = ClusterPods.phase(client, NAMESPACE, name);
                if ("Failed".equals(phase)) {
                  throw new AssertionError(
                      name + " failed: " + cluster.kubectl("-n", NAMESPACE, "logs", name));
                }
                return "Running".equals(phase)
                    && cluster.kubectl("-n", NAMESPACE, "logs", name).contains("VERIFIED");
              });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError(
          name
              + " did not start:\n"
              + cluster.kubectl("-n", NAMESPACE, "describe", "pod", name)
              + "\n"
              + cluster.kubectl(
                  "-n",
                  "layerns-system",
                  "logs",
                  "-l",
                  "app.kubernetes.io/name=layerns-node-plugin",
                  "--tail=40",
                  "-c",
                  "node-plugin")
              + "\n"
              + cluster.logTails(20),
          e);
    }
  }

  /** Until the pod's container waits with ErrImagePull or ImagePullBackOff; its message. */
  private String awaitPullFailure(String name) {
    String[] found = new String[1];
    await(name + " cannot pull its image")
        .atMost(POD_TIMEOUT)
        .until(
            () -> {
              Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
              assertThat(p.getStatus().getPhase()).as("phase of %s", name).isEqualTo("Pending");
              List<ContainerStatus> statuses = p.getStatus().getContainerStatuses();
              if (statuses == null || statuses.isEmpty()) {
                return false;
              }
              var waiting = statuses.getFirst().getState().getWaiting();
              if (waiting != null
                  && Set.of("ErrImagePull", "ImagePullBackOff").contains(waiting.getReason())) {
                found[0] = waiting.getReason() + ": " + waiting.getMessage();
                return true;
              }
              return false;
            });
    return found[0];
  }

  private String awaitSingleHolder() {
    List<String> found = new ArrayList<>();
    await("one node holds every layer of " + reference)
        .atMost(Duration.ofSeconds(180))
        .untilAsserted(
            () -> {
              found.clear();
              for (PublishImage.Layer l : image.layers) {
                List<String> h = ClusterPods.presentHolders(client, l.digest().toString());
                assertThat(h).as("holders of %s", l.digest()).hasSize(1);
                found.addAll(h);
              }
              assertThat(Set.copyOf(found)).hasSize(1);
            });
    return found.getFirst();
  }

  private Map<String, Double> pluginMetrics(String node) {
    ClusterNode n = cluster.node(node);
    return PrometheusText.samples(
        n.exec("curl", "-sSf", "--max-time", "10", "http://" + n.ip() + ":9809/metrics"));
  }

  private static String mirrorSeries(String metric, String source) {
    return "layerns_node_mirror_" + metric + "{source=\"" + source + "\"}";
  }

  private double mirrorBytes(String node, String source) {
    return pluginMetrics(node).getOrDefault(mirrorSeries("served_bytes_total", source), 0.0);
  }

  private static Map<String, Double> mirrorSamples(Map<String, Double> metrics) {
    Map<String, Double> m = new java.util.TreeMap<>();
    metrics.forEach(
        (k, v) -> {
          if (k.startsWith("layerns_node_mirror_")) {
            m.put(k, v);
          }
        });
    return m;
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
