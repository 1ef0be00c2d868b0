package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.store.Digest;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.TestCluster;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 15's attacks on the real test cluster, each made from an ordinary pod (not privileged, no
 * host network, running as nobody with no capability) on a member node; each test asserts what the
 * attacker sees.
 *
 * <p>Two nodes, both members of one LayerNamespace. {@value #HOLDER} holds a private image, pulled
 * with its pull Secret by its owner's pod. The attackers' pods run on {@value #ATTACKER_NODE}: the
 * pod network masquerades, so they come from {@value #ATTACKER_NODE}'s address, which {@value
 * #HOLDER}'s exports let in (the set-up shows it before any test runs); the crafted image is asked
 * for on {@value #HOLDER}, where the private layers are.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterSecurityIT {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterSecurityIT.class);
  private static final String NAMESPACE = "attack";
  private static final String HOLDER = "node-1";
  private static final String ATTACKER_NODE = "node-2";
  private static final String TOOLS_POD = "attacker";
  private static final String LAYERNS_IMAGE = "layerns:0.1.0";
  private static final String SSH_POD = "ssh-attacker";
  private static final String PLUGIN_NAMESPACE = "layerns-system";
  private static final String TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  private static final Duration POD_TIMEOUT = Duration.ofSeconds(120);
  private static final TestCluster.RegistryUser OWNER =
      new TestCluster.RegistryUser("team", "team-secret");
  private static final String SECRET_TEXT = "for the team's eyes only\n";

  private TestCluster cluster;
  private KubernetesClient client;
  private PublishImage privateImage;
  private StoreEndpoints holderExports;

  @BeforeAll
  void aPrivateImageOnOneNodeAndAttackersOnTheOther() throws Exception {
    cluster =
        ClusterInstall.startWithLayerns(
            archives ->
                new TestCluster.Options(2, ClusterInstall.PAUSE, archives)
                    .withPrivateRegistry(OWNER));
    client = cluster.client();
    cluster.kubectl("create", "namespace", NAMESPACE);
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
    ns.setSpec(new LayerNamespaceSpec(null, 1, Transport.Sshfs, 5, 60, null, List.of()));
    client.resource(ns).create();

    privateImage =
        new PublishImage(
            List.of(
                List.of(
                    PublishImage.Entry.dir("private", 0755),
                    PublishImage.Entry.file("private/plan.txt", 0644, SECRET_TEXT)),
                List.of(PublishImage.Entry.file("private/more.txt", 0644, "and this too\n"))));
    PublishRegistry.existing(
            port(cluster.privateRegistryFromHost()), OWNER.name(), OWNER.password())
        .push(
            "team/private",
            privateImage.blobs(),
            PublishImage.MANIFEST_TYPE,
            privateImage.manifest,
            "1");
    PullSecrets.create(
        client,
        NAMESPACE,
        "owner-pull",
        ClusterNetwork.privateRegistryHost(),
        OWNER.name(),
        OWNER.password());
    // The owner's pod: with its pull Secret it reads the private image on the holder.
    client
        .resource(
            ImageVolumePod.builder(
                    NAMESPACE,
                    "owner",
                    HOLDER,
                    privateReference(),
                    true,
                    "cat /image/private/plan.txt && echo VERIFIED && exec sleep 3600")
                .editSpec()
                .editFirstVolume()
                .editCsi()
                .withNewNodePublishSecretRef("owner-pull")
                .endCsi()
                .endVolume()
                .endSpec()
                .build())
        .create();
    await("the owner reads the private image")
        .atMost(POD_TIMEOUT)
        .until(() -> logs("owner").contains("VERIFIED"));
    assertThat(logs("owner")).contains(SECRET_TEXT.strip());
    for (PublishImage.Layer l : privateImage.layers) {
      await("Layer " + l.digest() + " held by " + HOLDER)
          .atMost(Duration.ofSeconds(60))
          .until(() -> ClusterPods.presentHolders(client, l.digest().toString()).contains(HOLDER));
    }
    holderExports =
        client.resources(LayerStore.class).withName(HOLDER).get().getStatus().endpoints();

    // busybox for wget and nc; the layerns image, already on every node, for its OpenSSH client.
    client.resource(attackerPod(TOOLS_POD, ClusterInstall.BUSYBOX)).create();
    client.resource(attackerPod(SSH_POD, LAYERNS_IMAGE)).create();
    awaitRunning(TOOLS_POD);
    awaitRunning(SSH_POD);
    // The holder's exports must let the attackers' address in, or a refusal would prove nothing:
    // its SFTP export closes a connection from a non-member before authentication, so reaching
    // the list of authentication methods shows the pod came from a member's address.
    await("the holder's SFTP export lets in the attacker pod's address")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofSeconds(2))
        .until(() -> sftpAttempt().contains("Authentications that can continue"));
    LOG.info("set up:\n{}", cluster.kubectl("get", "lns,lst,lyr", "-o", "wide"));
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  /**
   * Issue 15, attack 1: the HTTP export served any blob by digest to any client from a member's
   * address.
   */
  @Test
  @DisplayName(
      "When a pod on a member node asks another member's HTTP export for a private layer's blob"
          + " by digest, then it is refused and receives none of the blob's bytes")
  void aPodOnAMemberNodeGetsNoBlobFromAPeersHttpExport() {
    PublishImage.Layer layer = privateImage.layers.getFirst();
    String url = holderExports.http() + "/v2/team/private/blobs/" + layer.digest();

    String seen =
        exec(
            TOOLS_POD,
            "wget --no-check-certificate -O /tmp/blob '"
                + url
                + "' 2>&1; echo WGET-RC=$?;"
                + " if [ -s /tmp/blob ]; then sha256sum /tmp/blob; else echo NO-BYTES; fi");

    LOG.info("attack 1, a pod on {} fetching {}:\n{}", ATTACKER_NODE, url, seen);
    assertThat(seen)
        .as("what the attacker pod saw")
        .doesNotContain("WGET-RC=0")
        .doesNotContain(layer.digest().hex())
        .contains("NO-BYTES")
        // The export answered (a refusal), rather than the connection failing.
        .doesNotContain("can't connect")
        .doesNotContain("timed out");
  }

  /**
   * Issue 15, attack 4: one shared SFTP key; now only keys members publish in their own status log
   * in.
   */
  @Test
  @DisplayName(
      "When a pod on a member node logs in to another member's SFTP export with a key it made,"
          + " then the login is refused and it lists no layer")
  void aPodOnAMemberNodeCannotLogInToAPeersSftpExportWithItsOwnKey() {
    String seen = sftpAttempt();

    LOG.info("attack 4, a pod on {} logging in to {}:\n{}", ATTACKER_NODE, holderExports, seen);
    assertThat(seen)
        .as("what the attacker pod saw")
        .contains("Permission denied (publickey)")
        .doesNotContain("SFTP-RC=0");
    for (PublishImage.Layer l : privateImage.layers) {
      assertThat(seen).doesNotContain(l.digest().hex());
    }
  }

  /**
   * Issue 15, attack 2b: a crafted public manifest and config that name a private image's layers.
   */
  @Test
  @DisplayName(
      "When a pod without credentials names a crafted public image whose config lists the private"
          + " image's layers, on the node that holds them, then it stays Pending with a"
          + " FailedMount naming the refusal and sees no file")
  void aCraftedPublicImageListingThePrivateLayersIsRefusedOnTheirNode() throws Exception {
    // The attacker's own config (public, in the anonymous registry), listing the private diff
    // IDs; the manifest names the private layer digests, whose bytes the attacker does not have.
    List<PublishImage.LayerInfo> infos =
        privateImage.layers.stream()
            .map(l -> new PublishImage.LayerInfo(l.digest(), l.blob().length, l.diffId()))
            .toList();
    String plain = new String(PublishImage.config(infos), StandardCharsets.UTF_8);
    byte[] config =
        plain
            .replaceFirst("\\{", "{\"config\":{\"Labels\":{\"crafted\":\"yes\"}},")
            .getBytes(StandardCharsets.UTF_8);
    byte[] manifest = PublishImage.manifest(config, infos);
    PublishRegistry.existing(port(cluster.registryFromHost()))
        .pushBlob(
            "evil/crafted", Digest.of(config), HttpRequest.BodyPublishers.ofByteArray(config));
    // A push refuses a manifest whose layers the registry lacks; its owner writes it on disk.
    RegistryServer.plantManifest(cluster.registryStorage(), "evil/crafted", "1", manifest);
    String crafted = ClusterNetwork.registryHost() + "/evil/crafted:1";

    client
        .resource(
            securedAsNobody(
                    ImageVolumePod.builder(
                        NAMESPACE,
                        "crafted",
                        HOLDER,
                        crafted,
                        true,
                        "echo STARTED; cat /image/private/plan.txt; exec sleep 3600"))
                .build())
        .create();
    String failedMount = ClusterPods.awaitFailedMount(cluster, NAMESPACE, "crafted", POD_TIMEOUT);

    LOG.info("attack 2b, crafted image on {}: {}", HOLDER, failedMount);
    assertThat(failedMount)
        .contains("PermissionDenied")
        .contains("refused image " + crafted)
        .contains("layer " + privateImage.layers.getFirst().digest());
    await("the crafted pod stays Pending")
        .during(Duration.ofSeconds(5))
        .atMost(Duration.ofSeconds(10))
        .until(() -> "Pending".equals(phase("crafted")));
    Pod pod = client.pods().inNamespace(NAMESPACE).withName("crafted").get();
    assertThat(Objects.requireNonNullElse(pod.getStatus().getContainerStatuses(), List.of()))
        .as("the container never started")
        .allSatisfy(c -> assertThat(c.getState().getRunning()).isNull());
    client.pods().inNamespace(NAMESPACE).withName("crafted").delete();
  }

  /** Issue 15, attack 4: a node's report is its own; pods write no report at all. */
  @Test
  @DisplayName(
      "When a pod, or the node plugin of another node, writes a node's LayerStore status with its"
          + " own service account token, then the API server refuses it")
  void onlyANodesOwnPluginWritesItsLayerStoreStatus() {
    try (KubernetesClient asPod = clientWith(exec(TOOLS_POD, "cat " + TOKEN));
        KubernetesClient asPlugin = clientWith(pluginToken(ATTACKER_NODE))) {
      // Dry runs: authorization and admission decide as for a real write, which changes nothing.
      assertThatThrownBy(() -> writeStatusDryRun(asPod, HOLDER))
          .as("the attacker pod's own token writes %s's LayerStore status", HOLDER)
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      assertThatThrownBy(() -> writeStatusDryRun(asPlugin, HOLDER))
          .as("the node plugin of %s writes %s's LayerStore status", ATTACKER_NODE, HOLDER)
          .isInstanceOfSatisfying(
              KubernetesClientException.class,
              e -> {
                assertThat(e.getCode()).isEqualTo(403);
                assertThat(e.getMessage())
                    .contains("may write only LayerStore " + ATTACKER_NODE + ", not " + HOLDER);
              });
      // The control: the same token, the same write to its own node's store, is let through.
      writeStatusDryRun(asPlugin, ATTACKER_NODE);
    }
  }

  /** Issue 15, attack 3: the node plugin could read every Secret in the cluster. */
  @Test
  @DisplayName(
      "When the node plugin uses its pod's own token to read the pull Secret of a pod, or to list"
          + " the cluster's Secrets, then the API server refuses it")
  void theNodePluginsOwnTokenReadsNoSecret() {
    try (KubernetesClient asPlugin = clientWith(pluginToken(HOLDER))) {
      assertThatThrownBy(
              () -> asPlugin.secrets().inNamespace(NAMESPACE).withName("owner-pull").get())
          .as("the node plugin reads the owner's pull Secret")
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      assertThatThrownBy(() -> asPlugin.secrets().inAnyNamespace().list())
          .as("the node plugin lists the cluster's Secrets")
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }
  }

  // ---- the attackers

  /**
   * An ordinary pod on {@value #ATTACKER_NODE}: nobody, no capability, no privilege escalation, the
   * pod network, waiting for the test to run its commands in it.
   */
  private static Pod attackerPod(String name, String image) {
    return securedAsNobody(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NAMESPACE)
                .endMetadata()
                .withNewSpec()
                .withNodeSelector(Map.of("kubernetes.io/hostname", ATTACKER_NODE))
                .withRestartPolicy("Never")
                .withTerminationGracePeriodSeconds(1L)
                .addNewContainer()
                .withName("attack")
                .withImage(image)
                .withImagePullPolicy("Never")
                .withCommand("sleep", "3600")
                .endContainer()
                .endSpec())
        .build();
  }

  /** {@code pod} as nobody, with every capability dropped and no privilege escalation. */
  private static PodBuilder securedAsNobody(PodBuilder pod) {
    return pod.editSpec()
        .withHostNetwork(false)
        .withNewSecurityContext()
        .withRunAsUser(65534L)
        .withRunAsGroup(65534L)
        .withRunAsNonRoot(true)
        .endSecurityContext()
        .editFirstContainer()
        .withNewSecurityContext()
        .withPrivileged(false)
        .withAllowPrivilegeEscalation(false)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .endSecurityContext()
        .endContainer()
        .endSpec();
  }

  /**
   * From the SSH attacker pod: makes a key pair of its own, then lists the holder's SFTP export
   * with it, trusting whatever host key it is shown; returns what the pod's sftp printed.
   */
  private String sftpAttempt() {
    String[] hostPort = holderExports.sftp().split(":");
    return exec(
        SSH_POD,
        "rm -f /tmp/k /tmp/k.pub; ssh-keygen -q -t ecdsa -b 256 -N '' -f /tmp/k"
            + " && echo 'ls /sha256' > /tmp/batch"
            + " && sftp -v -b /tmp/batch -P "
            + hostPort[1]
            + " -i /tmp/k -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10"
            + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
            + " layerns@"
            + hostPort[0]
            + " 2>&1; echo SFTP-RC=$?");
  }

  /** The token the kubelet mounted in the node plugin pod on {@code node}, read inside it. */
  private String pluginToken(String node) {
    return cluster.kubectl(
        "-n", PLUGIN_NAMESPACE, "exec", pluginPod(node), "-c", "node-plugin", "--", "cat", TOKEN);
  }

  private KubernetesClient clientWith(String token) {
    return RbacTokens.clientFor(cluster.controlPlane(), token.strip());
  }

  /** Runs a shell script in {@code pod}'s container; returns what it printed (and exits 0). */
  private String exec(String pod, String script) {
    return cluster.kubectl("-n", NAMESPACE, "exec", pod, "--", "sh", "-c", script + "; true");
  }

  /**
   * Writes, as {@code as}, a dry run of {@code node}'s LayerStore status claiming it holds no layer
   * (a lie that would have the operator copy them again elsewhere, and send pods to it).
   */
  private void writeStatusDryRun(KubernetesClient as, String node) {
    LayerStore store = client.resources(LayerStore.class).withName(node).get();
    LayerStoreStatus s = store.getStatus();
    store.setStatus(
        new LayerStoreStatus(
            s.observedGeneration(),
            s.endpoints(),
            s.capacityBytes(),
            s.usedBytes(),
            s.capacitySize(),
            s.usedSize(),
            s.assignedLayers(),
            0,
            List.of(),
            s.volumes(),
            s.volumeCount(),
            s.conditions()));
    store.getMetadata().setManagedFields(null);
    store.getMetadata().setResourceVersion(null);
    as.resource(store).dryRun().patchStatus();
  }

  // ---- reading the cluster

  private String privateReference() {
    return ClusterNetwork.privateRegistryHost() + "/team/private@" + privateImage.manifestDigest();
  }

  private static int port(String hostPort) {
    return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
  }

  private String logs(String pod) {
    Pod p = client.pods().inNamespace(NAMESPACE).withName(pod).get();
    if (p == null || p.getStatus() == null || !"Running".equals(p.getStatus().getPhase())) {
      return "";
    }
    return cluster.kubectl("-n", NAMESPACE, "logs", pod);
  }

  private String phase(String pod) {
    return ClusterPods.phase(client, NAMESPACE, pod);
  }

  private void awaitRunning(String pod) {
    await(pod + " running").atMost(POD_TIMEOUT).until(() -> "Running".equals(phase(pod)));
  }

  private String pluginPod(String node) {
    return client
        .pods()
        .inNamespace(PLUGIN_NAMESPACE)
        .withLabel("app.kubernetes.io/name", "layerns-node-plugin")
        .list()
        .getItems()
        .stream()
        .filter(p -> node.equals(p.getSpec().getNodeName()))
        .map(p -> p.getMetadata().getName())
        .filter(Objects::nonNull)
        .findFirst()
        .orElseThrow(() -> new AssertionError("no node plugin pod on " + node));
  }
}
