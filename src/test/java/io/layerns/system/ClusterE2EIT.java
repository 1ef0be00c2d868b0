package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Digest;
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
import java.util.TreeMap;
import java.util.stream.Collectors;
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
 * layerns as an admin installs it, on a real cluster ({@link TestCluster}: three nodes, each a
 * kubelet v1.35 with its own containerd), from the image {@code make image} built, with {@code
 * kubectl apply -f crds/ && kubectl apply -k manifests/}, and real pods: the operator and the node
 * plugins run as pods with their own service accounts, and the pods under test read their image
 * volumes and say what they found in their logs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterE2EIT {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterE2EIT.class);
  private static final String NAMESPACE = "e2e";
  private static final String BUSYBOX = ClusterInstall.BUSYBOX;
  private static final String PAUSE = ClusterInstall.PAUSE;
  private static final Duration POD_TIMEOUT = Duration.ofSeconds(120);
  private static final TestCluster.RegistryUser PRIVATE_USER =
      new TestCluster.RegistryUser("team", "team-secret");

  private TestCluster cluster;
  private KubernetesClient client;
  private PublishImage image;
  private String reference;
  private String privateReference;
  private String holder;

  @BeforeAll
  void installLayernsOnARealCluster() throws Exception {
    cluster =
        ClusterInstall.startWithLayerns(
            archives ->
                new TestCluster.Options(3, PAUSE, archives).withPrivateRegistry(PRIVATE_USER));
    client = cluster.client();

    image = checkedImage(20261203);
    PublishRegistry registry =
        PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]));
    registry.push("team/app", image.blobs(), PublishImage.MANIFEST_TYPE, image.manifest, "1.0");
    reference = ClusterNetwork.registryHost() + "/team/app@" + image.manifestDigest();
    // Another image (its own manifest, config and first layer), only in the registry that asks
    // for a password: no node may already hold it.
    PublishImage privateImage = checkedImage(20261204);
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
  void podOnANodeWithoutTheImageReadsEveryFileFromAPeerOverSshfs() throws Exception {
    applyNamespace(Transport.Sshfs);
    holder = awaitSingleHolder();
    String reader = otherNode(Set.of(holder));
    awaitActedOnSpecWithoutPreload(reader);
    long before = registryRequestsFrom(reader);

    verifyingPod("reader-sshfs", reader, true);

    assertThat(cluster.kubectl("-n", NAMESPACE, "logs", "reader-sshfs"))
        .contains("VERIFIED " + FILES.size() + " files");
    assertThat(registryRequestsFrom(reader))
        .as(
            "requests from %s (%s) in the registry's log:\n%s",
            reader, cluster.node(reader).ip(), registryLinesFrom(reader))
        .isEqualTo(before);
    // The admin's view names the pod's references on the layers it reads.
    String layers = cluster.kubectl("get", "lyr");
    LOG.info(
        "kubectl get lns,lyr,lst while reader-sshfs runs:\n{}",
        cluster.kubectl("get", "lns,lyr,lst"));
    await("every layer shows the reader's reference")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                assertThat(layer(l.digest()).getStatus().referenceCount())
                    .as("%s references", l.digest())
                    .isEqualTo(1);
              }
            });
    assertThat(layers).contains(CrdConstants.layerName(image.layers.get(0).digest().toString()));

    client.pods().inNamespace(NAMESPACE).withName("reader-sshfs").delete();
    await("the references go with the pod")
        .atMost(POD_TIMEOUT)
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                Integer refs = layer(l.digest()).getStatus().referenceCount();
                assertThat(refs == null ? 0 : refs).as("%s references", l.digest()).isZero();
              }
            });
  }

  /**
   * The kubelet, not the node plugin, reads a pod's pull Secret: the one its volume names as
   * nodePublishSecretRef, passed in NodePublishVolume. A Secret that is no dockerconfigjson is
   * refused with a FailedMount event that says so (which only the Secret's data, as the kubelet
   * passed it, can tell); a dockerconfigjson one mounts. The plugin's RBAC reads no Secret.
   */
  @Test
  @Order(6)
  void thePodsVolumeCredentialsComeFromItsNodePublishSecretRefThroughTheKubelet() throws Exception {
    applyNamespace(Transport.Sshfs);
    String node = readyNode();
    secret("not-a-pull-secret", "Opaque", Map.of("token", "abc"));
    // The public registry lets anyone in; credentials for it are only carried along.
    PullSecrets.create(client, NAMESPACE, "regcred", ClusterNetwork.registryHost(), "team", "any");

    createPod("bad-secret", node, true, "exec sleep 3600", reference, "not-a-pull-secret", null);
    assertThat(awaitFailedMount("bad-secret"))
        .contains("nodePublishSecretRef Secret is not usable as registry credentials")
        .contains(".dockerconfigjson");

    createPod(
        "with-secret",
        node,
        true,
        "cd /image && sha256sum -c sha256sums && echo VERIFIED $(wc -l < sha256sums) files"
            + " && exec sleep 3600",
        reference,
        "regcred",
        null);
    awaitVerified("with-secret");
    deletePods("bad-secret", "with-secret");
  }

  /**
   * The store is root's alone on the host (0700), yet a pod that is not root still runs its image's
   * setuid-root binaries through the volume, as from a container image.
   */
  @Test
  @Order(6)
  void aNonRootPodRunsASetuidRootBinaryFromItsVolume() throws Exception {
    PublishImage suid =
        new PublishImage(
            List.of(
                List.of(
                    PublishImage.Entry.dir("bin", 0755),
                    PublishImage.Entry.binary("bin/euid", 04755, exitWithEffectiveUid()))));
    PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]))
        .push("team/suid", suid.blobs(), PublishImage.MANIFEST_TYPE, suid.manifest, "1");
    String node = readyNode();
    Pod pod =
        ImageVolumePod.builder(
                NAMESPACE,
                "setuid",
                node,
                ClusterNetwork.registryHost() + "/team/suid@" + suid.manifestDigest(),
                true,
                "echo UID=$(id -u); /image/bin/euid; echo EUID=$?; echo VERIFIED; exec sleep 3600")
            .editSpec()
            .withNewSecurityContext()
            .withRunAsUser(65534L)
            .withRunAsGroup(65534L)
            .endSecurityContext()
            .endSpec()
            .build();
    client.resource(pod).create();
    awaitVerified("setuid");

    assertThat(cluster.kubectl("-n", NAMESPACE, "logs", "setuid"))
        .contains("UID=65534")
        .contains("EUID=0");
    deletePods("setuid");
  }

  /**
   * A static x86-64 program of 136 bytes that exits with its effective uid (mod 256): geteuid, then
   * exit. Built here so the image needs no compiler; 0 means it ran as root.
   */
  private static byte[] exitWithEffectiveUid() {
    byte[] code = java.util.HexFormat.of().parseHex("b86b0000000f0589c7b83c0000000f05");
    long base = 0x400000;
    int total = 64 + 56 + code.length;
    java.nio.ByteBuffer b =
        java.nio.ByteBuffer.allocate(total).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0}).put(new byte[8]);
    b.putShort((short) 2).putShort((short) 0x3e).putInt(1).putLong(base + 120).putLong(64);
    b.putLong(0).putInt(0).putShort((short) 64).putShort((short) 56).putShort((short) 1);
    b.putShort((short) 0).putShort((short) 0).putShort((short) 0);
    b.putInt(1).putInt(5).putLong(0).putLong(base).putLong(base).putLong(total).putLong(total);
    b.putLong(0x1000);
    b.put(code);
    return b.array();
  }

  @Test
  @Order(2)
  void copyTransportAndAWritableVolumeOnTheThirdNode() throws Exception {
    applyNamespace(Transport.Copy);
    String reader = otherNode(Set.of(holder, otherNode(Set.of(holder))));
    awaitActedOnSpecWithoutPreload(reader);
    long before = registryRequestsFrom(reader);

    verifyingPod("writer-copy", reader, false);

    assertThat(cluster.kubectl("-n", NAMESPACE, "logs", "writer-copy"))
        .contains("VERIFIED " + FILES.size() + " files")
        .contains("WROTE ok");
    assertThat(registryRequestsFrom(reader)).isEqualTo(before);
    // Copy made the reader a holder; once the pod is gone its extra copies go after the grace.
    await("the reader holds a copy of every layer")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                assertThat(holders(l.digest())).contains(reader);
              }
            });
    client.pods().inNamespace(NAMESPACE).withName("writer-copy").delete();
    await("the reader's extra copies go after the grace period")
        .atMost(Duration.ofSeconds(120))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                assertThat(holders(l.digest())).containsExactly(holder);
              }
            });
  }

  @Test
  @Order(3)
  void aPodReadingOverSshfsKeepsReadingWhileItsNodePluginIsReplaced() throws Exception {
    applyNamespace(Transport.Sshfs);
    String reader = otherNode(Set.of(holder));
    readingPod("steady-reader", reader);

    long deletedAt = replacePluginPod(reader);
    // Rounds that started after the old plugin was gone must all have read without an error.
    await("the reader read again after the restart")
        .atMost(Duration.ofSeconds(60))
        .until(() -> rounds("steady-reader", deletedAt).size() >= 5);
    String log = cluster.kubectl("-n", NAMESPACE, "logs", "steady-reader");
    assertThat(log).as("the reader's log").doesNotContain("READ-ERROR");
    // And new pods keep starting on that node.
    verifyingPod("after-restart", reader, true);
    deletePods("steady-reader", "after-restart");
  }

  @Test
  @Order(4)
  void readersRecoverWhenTheHolderNodePluginRestarts() throws Exception {
    String reader = otherNode(Set.of(holder));
    readingPod("holder-reader", reader);
    long deletedAt = replacePluginPod(holder);
    long readyAt = System.currentTimeMillis() / 1000 * 1000; // the reader logs whole seconds
    await("the reader reads without error again")
        .atMost(Duration.ofSeconds(60))
        .until(() -> rounds("holder-reader", readyAt).stream().anyMatch(r -> r.ok()));
    List<Round> after = rounds("holder-reader", deletedAt);
    long firstOk =
        after.stream()
            .filter(r -> r.ok() && r.at() >= readyAt)
            .mapToLong(Round::at)
            .min()
            .orElseThrow();
    long errors = after.stream().filter(r -> !r.ok()).count();
    LOG.info(
        "holder restart: {} failed rounds; reads ok again {} ms after the new plugin was ready,"
            + " {} ms after the old one was deleted",
        errors,
        firstOk - readyAt,
        firstOk - deletedAt);
    // What the design promises: readers recover by themselves (sshfs reconnects) within a bound.
    assertThat(firstOk - readyAt)
        .as("ms from the holder's new plugin to a good read")
        .isLessThan(30_000);
    deletePods("holder-reader");
  }

  /**
   * Issue 22, item 3, with a real pod: the sshfs daemons behind a reader's volume die while the
   * reader's node plugin is replaced. The new plugin names each dead mount once ({@code
   * RemoteMountDead}), mounts it again and the volume over its target ({@code
   * RemoteMountRepaired}); the pod mounts the volume with HostToContainer propagation, so it reads
   * again without a restart.
   */
  @Test
  @Order(5)
  void aHostToContainerPodReadsAgainAfterItsSshfsDaemonsDieWhileItsPluginIsReplaced()
      throws Exception {
    applyNamespace(Transport.Sshfs);
    String reader = otherNode(Set.of(holder));
    // Copies a reader made earlier (Copy transport) go after the grace: then it reads over sshfs.
    await(reader + " holds no copy")
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                assertThat(holders(l.digest())).doesNotContain(reader);
              }
            });
    readingPod("repaired-reader", reader, "HostToContainer");
    String bind = "BindAddress=" + cluster.node(reader).ip();

    String old = pluginPod(reader);
    cluster.kubectl("-n", "layerns-system", "delete", "pod", old, "--wait=true", "--timeout=120s");
    // While the node has no plugin: the daemons die (an OOM kill, say).
    Map<Long, String> sshfs = sshfsCommandLines();
    List<ProcessHandle> daemons =
        sshfs.entrySet().stream()
            .filter(e -> e.getValue().contains(bind))
            .flatMap(e -> ProcessHandle.of(e.getKey()).stream())
            .toList();
    assertThat(daemons).as("sshfs daemons with " + bind + " among " + sshfs).isNotEmpty();
    long killedAt = System.currentTimeMillis();
    daemons.forEach(ProcessHandle::destroyForcibly);
    await("a new node plugin pod on " + reader)
        .atMost(POD_TIMEOUT)
        .until(() -> !pluginPod(reader).equals(old) && pluginReady(reader));
    long readyAt = System.currentTimeMillis();

    await("each dead mount told and repaired")
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(
            () -> {
              assertThat(mountEvents(reader, "RemoteMountDead", killedAt))
                  .hasSize(daemons.size())
                  .allSatisfy(n -> assertThat(n).contains("Transport endpoint is not connected"));
              assertThat(mountEvents(reader, "RemoteMountRepaired", killedAt))
                  .hasSize(daemons.size())
                  .allSatisfy(n -> assertThat(n).contains("volumes remounted: "));
            });
    long repairedAt = System.currentTimeMillis();
    await("the pod reads again, without a restart")
        .atMost(Duration.ofSeconds(30))
        .until(() -> rounds("repaired-reader", repairedAt).stream().anyMatch(Round::ok));
    long firstOk =
        rounds("repaired-reader", readyAt).stream()
            .filter(Round::ok)
            .mapToLong(Round::at)
            .min()
            .orElseThrow();
    LOG.info(
        "dead sshfs daemons: {} mounts repaired; the pod read again {} ms after the new plugin was"
            + " ready",
        daemons.size(),
        firstOk - readyAt);
    assertThat(
            client
                .pods()
                .inNamespace(NAMESPACE)
                .withName("repaired-reader")
                .get()
                .getStatus()
                .getContainerStatuses())
        .singleElement()
        .satisfies(c -> assertThat(c.getRestartCount()).isZero());
    deletePods("repaired-reader");
  }

  /** The command lines of the machine's sshfs processes, by pid (from /proc: they run in pods). */
  private static Map<Long, String> sshfsCommandLines() throws java.io.IOException {
    Map<Long, String> out = new TreeMap<>();
    try (var procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        try {
          String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ').strip();
          if (cmd.startsWith("sshfs ") || cmd.contains("/sshfs ")) {
            out.put(Long.parseLong(p.getFileName().toString()), cmd);
          }
        } catch (java.io.IOException gone) {
          // The process ended meanwhile.
        }
      }
    }
    return out;
  }

  /** The notes of {@code reason} events on {@code node}'s LayerStore since {@code sinceMillis}. */
  private List<String> mountEvents(String node, String reason, long sinceMillis) {
    return client.events().v1().events().inAnyNamespace().list().getItems().stream()
        .filter(e -> reason.equals(e.getReason()))
        .filter(e -> node.equals(e.getRegarding().getName()))
        .filter(
            e ->
                java.time.Instant.parse(e.getEventTime().getTime()).toEpochMilli()
                    >= sinceMillis / 1000 * 1000)
        .map(io.fabric8.kubernetes.api.model.events.v1.Event::getNote)
        .toList();
  }

  @Test
  @Order(7) // last: it powers a node off
  void aNodeThatIsDrainedAndDeletedHasItsLayersReplicatedAgain() throws Exception {
    applyNamespace(Transport.Sshfs, 2);
    await("two copies of every layer")
        .atMost(Duration.ofSeconds(120))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                assertThat(holders(l.digest())).hasSize(2);
              }
            });
    List<String> holders = holders(image.layers.get(0).digest());
    String leaving = holders.get(0);
    String staying = otherNode(Set.of(leaving));
    verifyingPod("bystander", staying, true);

    cluster.kubectl(
        "drain",
        leaving,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=120s");
    cluster.node(leaving).powerOff();
    cluster.kubectl("delete", "node", leaving);

    await("every layer has two copies again, on the remaining nodes")
        .atMost(Duration.ofSeconds(180))
        .untilAsserted(
            () -> {
              for (PublishImage.Layer l : image.layers) {
                List<String> h = holders(l.digest());
                assertThat(h).hasSize(2).doesNotContain(leaving);
              }
            });
    Pod bystander = client.pods().inNamespace(NAMESPACE).withName("bystander").get();
    assertThat(bystander.getStatus().getPhase()).isEqualTo("Running");
    LOG.info("after {} left:\n{}", leaving, cluster.kubectl("get", "lns,lyr,lst"));
    deletePods("bystander");
  }

  @Test
  @Order(6)
  void aPodWithoutThePullSecretOfAPrivateImageDoesNotStartAndItsEventsSayWhy() throws Exception {
    String node = readyNode();
    String verifyAndExit =
        "cd /image && sha256sum -c sha256sums && test ! -e data/gone.txt"
            + " && echo VERIFIED $(wc -l < sha256sums) files";
    long created = System.nanoTime();
    createPod("private-no-secret", node, true, verifyAndExit, privateReference, null, null);
    String failedMount = awaitFailedMount("private-no-secret");
    LOG.info(
        "private-no-secret: FailedMount {} ms after create: {}",
        Duration.ofNanos(System.nanoTime() - created).toMillis(),
        failedMount);
    // What the user must read to fix it: which image, that the registry said 401, and that the
    // pod has no credentials for that registry.
    assertThat(failedMount)
        .contains(privateReference)
        .contains("the registry answered 401")
        .contains("the pod has no pull credentials for " + ClusterNetwork.privateRegistryHost())
        .contains("nodePublishSecretRef");

    // The same pod with a pull secret for that registry, named as its volume's
    // nodePublishSecretRef, reads every file: the test tells them apart.
    PullSecrets.create(
        client,
        NAMESPACE,
        "private-pull",
        ClusterNetwork.privateRegistryHost(),
        PRIVATE_USER.name(),
        PRIVATE_USER.password());
    created = System.nanoTime();
    createPod(
        "private-with-secret", node, true, verifyAndExit, privateReference, "private-pull", null);
    awaitVerified("private-with-secret", "Succeeded");
    LOG.info(
        "private-with-secret: Succeeded {} ms after create",
        Duration.ofNanos(System.nanoTime() - created).toMillis());
    assertThat(cluster.kubectl("-n", NAMESPACE, "logs", "private-with-secret"))
        .contains("VERIFIED " + FILES.size() + " files");
    // Meanwhile the kubelet kept retrying the pod without the secret, in vain.
    assertThat(phase("private-no-secret")).isEqualTo("Pending");
    deletePods("private-no-secret", "private-with-secret");
  }

  /**
   * A pod cannot make the node plugin, which runs in the host's network, send requests to the
   * node's loopback: a volume naming the kubelet's healthz port (127.0.0.1:10248, listening on
   * every node) as its image's registry stays Pending, and its FailedMount event names the refused
   * address and the setting that would allow it.
   */
  @Test
  @Order(6)
  void aPodNamingARegistryOnItsNodesLoopbackStaysPendingAndItsEventsSayWhy() throws Exception {
    String node = readyNode();
    createPod(
        "loopback-registry",
        node,
        true,
        "exec sleep 3600",
        "127.0.0.1:10248/healthz/app:1",
        null,
        null);
    assertThat(awaitFailedMount("loopback-registry"))
        .contains("refusing to send a request to 127.0.0.1 (a loopback address)")
        .contains("LAYERNS_REGISTRY_ALLOWED_NETWORKS");
    assertThat(phase("loopback-registry")).isEqualTo("Pending");
    deletePods("loopback-registry");
  }

  /**
   * The first {@code FailedMount} event line of {@code kubectl describe pod}, once there is one;
   * fails if the pod starts instead.
   */
  private String awaitFailedMount(String pod) {
    return ClusterPods.awaitFailedMount(cluster, NAMESPACE, pod, POD_TIMEOUT);
  }

  private String phase(String pod) {
    Pod p = client.pods().inNamespace(NAMESPACE).withName(pod).get();
    return p == null || p.getStatus() == null ? null : p.getStatus().getPhase();
  }

  /** A node that is Ready now (an earlier test may have deleted one). */
  private String readyNode() {
    return client.nodes().list().getItems().stream()
        .filter(TestCluster::ready)
        .map(n -> n.getMetadata().getName())
        .sorted()
        .findFirst()
        .orElseThrow();
  }

  // ---- readers that keep reading, and what they say

  /** One round of a reading pod: when, and whether every read worked. */
  record Round(long at, boolean ok, String line) {}

  /** A pod on {@code node} that re-checks the volume every 200 ms and logs each round. */
  private void readingPod(String name, String node) {
    readingPod(name, node, null);
  }

  /**
   * @param propagation the volumeMount's mountPropagation, null for the default (None); with one,
   *     each round enters /image afresh, since a working directory inside it keeps the overlay it
   *     was on (and a repaired volume is a new overlay over the old one)
   */
  private void readingPod(String name, String node, String propagation) {
    String enter = propagation == null ? "" : "cd / && cd /image && ";
    String loop =
        "cd /image && i=0; while true; do i=$((i+1)); t=$(date +%s);"
            + " if "
            + enter
            + "out=$(sha256sum -c sha256sums 2>&1) && probe=$(ls data/absent-$i 2>&1; true)"
            + " && case \"$probe\" in *'No such file'*) true;; *) false;; esac;"
            + " then echo \"ROUND $t ok\"; else echo \"ROUND $t READ-ERROR $out $probe\"; fi;"
            + " [ $i = 1 ] && echo VERIFIED $(wc -l < sha256sums) files; sleep 0.2; done";
    createPod(name, node, true, loop, reference, null, propagation);
    awaitVerified(name);
  }

  private List<Round> rounds(String pod, long sinceMillis) {
    List<Round> out = new ArrayList<>();
    for (String line : cluster.kubectl("-n", NAMESPACE, "logs", pod).split("\n")) {
      if (line.startsWith("ROUND ")) {
        String[] f = line.split(" ", 4);
        long at = Long.parseLong(f[1]) * 1000; // busybox date: whole seconds
        if (at >= sinceMillis / 1000 * 1000) {
          out.add(new Round(at, "ok".equals(f[2]), line));
        }
      }
    }
    return out;
  }

  private String pluginPod(String node) {
    return client
        .pods()
        .inNamespace("layerns-system")
        .withLabel("app.kubernetes.io/name", "layerns-node-plugin")
        .list()
        .getItems()
        .stream()
        .filter(p -> node.equals(p.getSpec().getNodeName()))
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .map(p -> p.getMetadata().getName())
        .findFirst()
        .orElse("");
  }

  /**
   * Deletes {@code node}'s node plugin pod, as a DaemonSet update does, and waits until its
   * replacement is Ready; returns when the old pod was deleted (epoch millis).
   */
  private long replacePluginPod(String node) {
    String old = pluginPod(node);
    long deletedAt = System.currentTimeMillis();
    cluster.kubectl("-n", "layerns-system", "delete", "pod", old, "--wait=true", "--timeout=120s");
    await("a new node plugin pod on " + node)
        .atMost(POD_TIMEOUT)
        .until(() -> !pluginPod(node).equals(old) && pluginReady(node));
    return deletedAt;
  }

  private boolean pluginReady(String node) {
    String name = pluginPod(node);
    if (name.isEmpty()) {
      return false;
    }
    Pod p = client.pods().inNamespace("layerns-system").withName(name).get();
    return p != null
        && p.getStatus() != null
        && p.getStatus().getContainerStatuses() != null
        && p.getStatus().getContainerStatuses().stream()
            .allMatch(c -> Boolean.TRUE.equals(c.getReady()));
  }

  private void deletePods(String... names) {
    for (String n : names) {
      client.pods().inNamespace(NAMESPACE).withName(n).delete();
    }
    await("pods " + List.of(names) + " gone")
        .atMost(POD_TIMEOUT)
        .until(
            () ->
                java.util.Arrays.stream(names)
                    .allMatch(n -> client.pods().inNamespace(NAMESPACE).withName(n).get() == null));
  }

  // ---- the image under test: three layers, a whiteout, and the sums of what must be seen

  private static final Map<String, String> FILES = new TreeMap<>();

  /**
   * The image; {@code seed} makes its big file, so two seeds give two images with the same file
   * names (which {@link #FILES} holds) and different layers.
   */
  private static PublishImage checkedImage(long seed) throws Exception {
    Random random = new Random(seed);
    StringBuilder big = new StringBuilder();
    while (big.length() < 2_000_000) {
      big.append(Long.toHexString(random.nextLong()));
    }
    String a1 = "first version of a\n";
    String a2 = "second version of a, from layer 2\n";
    String b = "b, only in layer 2\n";
    List<PublishImage.Entry> layer1 =
        List.of(
            PublishImage.Entry.dir("data", 0755),
            PublishImage.Entry.file("data/a.txt", 0644, a1),
            PublishImage.Entry.file("data/gone.txt", 0644, "removed by layer 2\n"),
            PublishImage.Entry.file("data/big.bin", 0644, big.toString()),
            PublishImage.Entry.file("data/run.sh", 0755, "#!/bin/sh\necho run\n"),
            PublishImage.Entry.symlink("data/link", "a.txt"));
    List<PublishImage.Entry> layer2 =
        List.of(
            PublishImage.Entry.dir("data", 0755),
            PublishImage.Entry.file("data/a.txt", 0644, a2),
            PublishImage.Entry.file("data/b.txt", 0644, b),
            PublishImage.Entry.whiteout("data/gone.txt"));
    FILES.clear();
    FILES.put("data/a.txt", a2);
    FILES.put("data/b.txt", b);
    FILES.put("data/big.bin", big.toString());
    FILES.put("data/run.sh", "#!/bin/sh\necho run\n");
    FILES.put("data/link", a2);
    String sums =
        FILES.entrySet().stream()
            .map(e -> sha256(e.getValue()) + "  " + e.getKey())
            .collect(Collectors.joining("\n", "", "\n"));
    List<PublishImage.Entry> layer3 = List.of(PublishImage.Entry.file("sha256sums", 0644, sums));
    return new PublishImage(List.of(layer1, layer2, layer3));
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256")
                  .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---- helpers

  private void secret(String name, String type, Map<String, String> data) {
    client
        .secrets()
        .inNamespace(NAMESPACE)
        .resource(
            new io.fabric8.kubernetes.api.model.SecretBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withType(type)
                .withStringData(data)
                .build())
        .createOr(x -> x.update());
  }

  private void applyNamespace(Transport transport) {
    applyNamespace(transport, 1);
  }

  private void applyNamespace(Transport transport, int replicas) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName("e2e").build());
    ns.setSpec(new LayerNamespaceSpec(null, replicas, transport, 5, 60, null, List.of(reference)));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  /** The node the operator gave the preload to, once it holds every layer. */
  private String awaitSingleHolder() {
    List<String> found = new ArrayList<>();
    await("one node holds every layer of " + reference)
        .atMost(Duration.ofSeconds(180))
        .untilAsserted(
            () -> {
              found.clear();
              for (PublishImage.Layer l : image.layers) {
                List<String> h = holders(l.digest());
                assertThat(h).as("holders of %s", l.digest()).hasSize(1);
                found.addAll(h);
              }
              assertThat(Set.copyOf(found)).hasSize(1);
            });
    return found.get(0);
  }

  /**
   * Until {@code node}'s agent acted on a spec that gives it no image to preload: while nodes join,
   * the operator may hand the preload to one node and then to another, and a pull the first one
   * started would be counted against the reader.
   */
  private void awaitActedOnSpecWithoutPreload(String node) {
    await(node + " acted on a spec without a preload")
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () -> {
              var store =
                  client.resources(io.layerns.api.v1alpha1.LayerStore.class).withName(node).get();
              assertThat(store.getSpec().preloadImages())
                  .as("preloads of %s", node)
                  .isNullOrEmpty();
              assertThat(store.getStatus()).isNotNull();
              assertThat(store.getStatus().observedGeneration())
                  .isEqualTo(store.getMetadata().getGeneration());
            });
  }

  private Layer layer(Digest digest) {
    Layer l =
        client.resources(Layer.class).withName(CrdConstants.layerName(digest.toString())).get();
    assertThat(l).as("Layer %s", digest).isNotNull();
    assertThat(l.getStatus()).as("status of Layer %s", digest).isNotNull();
    return l;
  }

  private List<String> holders(Digest digest) {
    List<LayerHolder> h = layer(digest).getStatus().holders();
    return h == null
        ? List.of()
        : h.stream()
            .filter(x -> x.state() == CopyState.Present)
            .map(LayerHolder::node)
            .sorted()
            .toList();
  }

  private String otherNode(Set<String> not) {
    return cluster.nodes().stream()
        .map(ClusterNode::name)
        .filter(n -> !not.contains(n))
        .findFirst()
        .orElseThrow();
  }

  /** A pod on {@code node} that checks every file of the image volume, then keeps running. */
  private void verifyingPod(String name, String node, boolean readOnly) {
    String check =
        "cd /image && sha256sum -c sha256sums && test ! -e data/gone.txt"
            + (readOnly
                ? ""
                : " && echo written > data/new.txt && grep -q written data/new.txt && echo WROTE ok")
            + " && echo VERIFIED $(wc -l < sha256sums) files && exec sleep 3600";
    createPod(name, node, readOnly, check);
    awaitVerified(name);
  }

  private void createPod(String name, String node, boolean readOnly, String script) {
    createPod(name, node, readOnly, script, reference, null, null);
  }

  /**
   * A pod whose volume is {@code volumeImage}, naming {@code pullSecret} as the volume's
   * nodePublishSecretRef and mounting the volume with {@code propagation} (each when not null).
   */
  private void createPod(
      String name,
      String node,
      boolean readOnly,
      String script,
      String volumeImage,
      String pullSecret,
      String propagation) {
    PodBuilder builder =
        ImageVolumePod.builder(NAMESPACE, name, node, volumeImage, readOnly, script)
            .editSpec()
            .editFirstContainer()
            .editFirstVolumeMount()
            .withMountPropagation(propagation)
            .endVolumeMount()
            .endContainer()
            .editFirstVolume()
            .editCsi()
            .withNodePublishSecretRef(
                pullSecret == null
                    ? null
                    : new io.fabric8.kubernetes.api.model.LocalObjectReference(pullSecret))
            .endCsi()
            .endVolume()
            .endSpec();
    client.resource(builder.build()).create();
  }

  private void awaitVerified(String name) {
    awaitVerified(name, "Running");
  }

  /** Until pod {@code name} is in {@code phase} and its log says it verified its volume. */
  private void awaitVerified(String name, String phase) {
    try {
      await(name + " verified its volume")
          .atMost(POD_TIMEOUT)
          .until(
              () -> {
                Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
                if (p.getStatus() != null && "Failed".equals(p.getStatus().getPhase())) {
                  throw new AssertionError(
                      name + " failed: " + cluster.kubectl("-n", NAMESPACE, "logs", name));
                }
                return p.getStatus() != null
                    && phase.equals(p.getStatus().getPhase())
                    && cluster.kubectl("-n", NAMESPACE, "logs", name).contains("VERIFIED");
              });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError(
          name
              + " did not verify its volume:\n"
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
                  "node-plugin"),
          e);
    }
  }

  private String registryLinesFrom(String node) throws Exception {
    String ip = cluster.node(node).ip();
    return Files.readAllLines(cluster.registryLog()).stream()
        .filter(l -> l.contains(ip + ":"))
        .collect(Collectors.joining("\n"));
  }

  /** Requests the registry logged from {@code node}'s address. */
  private long registryRequestsFrom(String node) throws Exception {
    String ip = cluster.node(node).ip();
    return Files.readAllLines(cluster.registryLog()).stream()
        .filter(l -> l.contains("remoteaddr=" + ip + ":") || l.contains("remoteaddr=\"" + ip + ":"))
        .count();
  }
}
