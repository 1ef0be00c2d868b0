package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.CSIVolumeSourceBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Status;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.registry.TokenServer;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenants and private images, with the real parts: Debian's docker-registry behind a token service
 * (anonymous users get no access), the control plane with pods whose image volumes name their pull
 * Secret (nodePublishSecretRef), the operator, and three nodes (127.0.1.1-3) publishing through the
 * CSI socket as the kubelet does.
 *
 * <p>Pod A pulls a private image on node 1; every layer is then in the namespace. Pods without the
 * pull secret (or with a wrong one, or with it only in imagePullSecrets) are refused
 * PERMISSION_DENIED on node 1 and on node 3; pod C, with the secret, gets the image on node 3 with
 * its layers read from node 1 (no layer from the registry), and on node 1. Then the attacks of
 * issue 15 on an attacker's registry: the private manifest under another tag (2a), a crafted public
 * manifest naming the private config and layers (2b), with the config's bytes too; each refused.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PrivateImageIT {
  private static final String NS = "tenants";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final String POD_NS = "default";
  private static final String USER = "team";
  private static final String PASSWORD = "team-secret";
  private static final String REPOSITORY = "team/private";

  private static final TestImage IMAGE = TestImage.threeLayers("private", Platform.LINUX_AMD64);

  private Path dir;
  private KubernetesClient client;
  private PublishCluster cluster;
  private TokenServer tokens;
  private RegistryServer registry;
  private RegistryServer attacker;
  private String byDigest;

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path tmp) throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    dir = tmp;
    client = cp.client();
    tokens = TokenServer.start(Map.of(USER, PASSWORD), Files.createDirectories(dir.resolve("tok")));
    registry = RegistryServer.start(Files.createDirectories(dir.resolve("registry")), tokens);
    new RegistryPusher(
            registry.url(), tokens.issue(USER, "repository:" + REPOSITORY + ":pull,push"))
        .push(REPOSITORY, IMAGE, "v1");
    byDigest = registry.host() + "/" + REPOSITORY + "@" + IMAGE.manifestDigest();
    // An attacker's registry: anonymous, and whatever its owner writes on its disk.
    attacker = RegistryServer.start(Files.createDirectories(dir.resolve("attacker")), null);

    // The pods: A and C name the right pull secret, B none, B2 a wrong one.
    client
        .namespaces()
        .resource(new NamespaceBuilder().withNewMetadata().withName(POD_NS).endMetadata().build())
        .createOr(n -> n.update());
    client
        .serviceAccounts()
        .inNamespace(POD_NS)
        .resource(
            new ServiceAccountBuilder().withNewMetadata().withName("default").endMetadata().build())
        .createOr(n -> n.update());
    pullSecret("regcred", USER, PASSWORD);
    pullSecret("wrongcred", USER, "not-the-password");
    pod("pod-a", "regcred", "regcred");
    pod("pod-b", null, null);
    pod("pod-b2", "wrongcred", null);
    pod("pod-c", "regcred", null);
    pod("pod-d", null, "regcred");

    cluster = PublishCluster.start(cp, "tenant", POOL, 3, dir);
    TestNodes.addNamespace(client, NS, POOL, 1, Transport.Sshfs);
  }

  @AfterAll
  void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    if (registry != null) {
      registry.close();
    }
    if (attacker != null) {
      attacker.close();
    }
    if (tokens != null) {
      tokens.close();
    }
  }

  @Test
  @Order(1)
  void podAWithThePullSecretGetsThePrivateImageOnNode1() throws Exception {
    PublishNode.Volume v = publish(1, byDigest, "pod-a");
    assertShowsTheImage(v);
    // Every layer is now in the namespace: node 1 holds and owns it.
    for (TestImage.Layer l : IMAGE.layers()) {
      await("tenant-1 owns " + l.digest())
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                Layer layer =
                    client
                        .resources(Layer.class)
                        .withName(CrdConstants.layerName(l.digest().toString()))
                        .get();
                assertThat(layer).isNotNull();
                assertThat(layer.getStatus()).isNotNull();
                assertThat(layer.getStatus().owners()).containsExactly("tenant-1");
              });
    }
  }

  @Test
  @Order(2)
  void podsWithoutTheSecretAreRefusedOnTheNodeThatHoldsTheImage() {
    assertDenied(1, "pod-b");
    assertDenied(1, "pod-b2");
  }

  @Test
  @Order(2)
  @DisplayName(
      "When a pod names the right Secret only in imagePullSecrets, then it is refused with a"
          + " message that says to set the volume's nodePublishSecretRef")
  void aPodWithTheSecretOnlyInImagePullSecretsIsToldToUseNodePublishSecretRef() {
    assertDenied(1, "pod-d", byDigest, "does not read the pod's imagePullSecrets");
  }

  @Test
  @Order(3)
  void podsWithoutTheSecretAreRefusedOnAnotherMemberNode() throws Exception {
    assertDenied(3, "pod-b");
    assertDenied(3, "pod-b2");
    assertThat(node(3).agent.store().listLayers()).isEmpty();
  }

  @Test
  @Order(4)
  void podCWithTheSecretGetsItOnNode3WithTheLayersReadFromNode1() throws Exception {
    PublishNode node3 = node(3);
    PublishNode.Volume v = publish(3, byDigest, "pod-c");
    try {
      assertShowsTheImage(v);
      // The layers are node 1's copies over sshfs: node 3 neither copied nor downloaded one.
      assertThat(node3.agent.store().listLayers()).isEmpty();
      List<String> node3Requests = requestsFrom("127.0.1.3");
      assertThat(node3Requests)
          .as("node 3 read the private manifest from the registry with pod C's secret")
          .anyMatch(r -> r.contains("/manifests/" + IMAGE.manifestDigest()));
      for (TestImage.Layer l : IMAGE.layers()) {
        assertThat(node3Requests).noneMatch(r -> r.contains(l.digest().toString()));
      }
    } finally {
      node3.unpublish(v);
    }
  }

  @Test
  @Order(5)
  @DisplayName(
      "Attack 2a: when a pod names an attacker's registry that serves the private manifest under a"
          + " tag, then the node that holds the image refuses it")
  void privateManifestServedByAnotherRegistryIsRefused() throws Exception {
    attacker.plantManifest("evil/copy", "v1", IMAGE.manifest());
    assertDenied(1, "pod-b", attacker.host() + "/evil/copy:v1", "config " + IMAGE.configDigest());
  }

  @Test
  @Order(6)
  @DisplayName(
      "Attack 2b: when a pod names a crafted public manifest that names the private config and"
          + " layers, then the node that holds them refuses it")
  void craftedPublicManifestNamingThePrivateConfigIsRefused() throws Exception {
    attacker.plantManifest("evil/crafted", "v1", crafted(IMAGE.manifest()));
    assertDenied(
        1, "pod-b", attacker.host() + "/evil/crafted:v1", "config " + IMAGE.configDigest());
  }

  @Test
  @Order(7)
  @DisplayName(
      "Attack 2b with the config's bytes: when the attacker's registry also serves the private"
          + " config, then the layers, known here only through the private image, are refused")
  void craftedManifestWithThePrivateConfigStillCannotReadThePrivateLayers() throws Exception {
    new RegistryPusher(attacker.url(), null)
        .uploadBlob("evil/with-config", IMAGE.configDigest(), IMAGE.config());
    attacker.plantManifest("evil/with-config", "v1", crafted(IMAGE.manifest()));
    assertDenied(
        1,
        "pod-b",
        attacker.host() + "/evil/with-config:v1",
        "layer " + IMAGE.layers().getFirst().digest());
  }

  @Test
  @Order(8)
  void podCWithTheSecretGetsTheImageOnNode1WhereItIsHeld() throws Exception {
    PublishNode.Volume v = publish(1, byDigest, "pod-c");
    try {
      assertShowsTheImage(v);
    } finally {
      node(1).unpublish(v);
    }
  }

  @Test
  @Order(9)
  @DisplayName(
      "When a public image shares a layer with the private one, then a pod without the secret"
          + " gets it on node 1: its registry serves that layer's bytes to anyone")
  void publicImageSharingALayerWithThePrivateOneStillWorks() throws Exception {
    TestImage shared =
        new TestImage(
            Platform.LINUX_AMD64,
            List.of(
                IMAGE.layers().getFirst(),
                TestImage.Layer.of(
                    TestImage.Compression.GZIP, Map.of("public/readme", "public layer\n"))),
            false);
    new RegistryPusher(attacker.url(), null).push("public/shared", shared, "v1");
    PublishNode.Volume v = publish(1, attacker.host() + "/public/shared:v1", "pod-b");
    try {
      for (TestImage.Layer l : shared.layers()) {
        for (Map.Entry<String, String> f : l.files().entrySet()) {
          assertThat(v.target().resolve(f.getKey())).hasContent(f.getValue());
        }
      }
      // The cost: node 1 read the shared layer's bytes once from the public registry.
      assertThat(requestsFrom(attacker, "127.0.1.1"))
          .anyMatch(
              r -> r.contains("/v2/public/shared/blobs/" + IMAGE.layers().getFirst().digest()));
    } finally {
      node(1).unpublish(v);
    }
  }

  @Test
  @Order(10)
  @DisplayName(
      "Attack 2b on another node: when the operator replicates a private layer to a node where no"
          + " pod read the private image, then a crafted public image naming that layer is refused"
          + " there too")
  void aPrivateLayerReplicatedToAnotherNodeIsRefusedThereToAPodWithoutAccess() throws Exception {
    // The second layer is private only (the first is public too, since order 9).
    TestImage.Layer secret = IMAGE.layers().get(1);
    // Two copies of each layer: the operator assigns one to node 2 or 3, which fetches it from
    // node 1 by digest; no pod there ever read the private image.
    TestNodes.addNamespace(client, NS, POOL, 2, Transport.Sshfs);
    int replica =
        await("a second node holds " + secret.digest())
            .atMost(Duration.ofSeconds(120))
            .until(
                () ->
                    node(2).agent.store().hasLayer(secret.digest())
                        ? 2
                        : node(3).agent.store().hasLayer(secret.digest()) ? 3 : 0,
                n -> n != 0);
    // The attacker's own image: a public config whose diff IDs name the private layer and a
    // layer of its own; the private layer's bytes are not in the attacker's registry.
    TestImage.Layer own =
        TestImage.Layer.of(TestImage.Compression.GZIP, Map.of("evil/readme", "attacker\n"));
    TestImage evil = new TestImage(Platform.LINUX_AMD64, List.of(secret, own), false);
    RegistryPusher anonymous = new RegistryPusher(attacker.url(), null);
    anonymous.uploadBlob("evil/replica", evil.configDigest(), evil.config());
    anonymous.uploadBlob("evil/replica", own.digest(), own.blob());
    attacker.plantManifest("evil/replica", "v1", evil.manifest());

    assertDenied(
        replica, "pod-b", attacker.host() + "/evil/replica:v1", "layer " + secret.digest());
    // The replica learned the mark from node 1's status when it fetched the layer, and publishes
    // it in turn: it stays private there after node 1 drops its copy.
    await("tenant-" + replica + " publishes " + secret.digest() + " as private")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () ->
                assertThat(
                        client
                            .resources(LayerStore.class)
                            .withName("tenant-" + replica)
                            .get()
                            .getStatus()
                            .layers())
                    .filteredOn(h -> h.digest().equals(secret.digest().toString()))
                    .singleElement()
                    .extracting(HeldLayer::privateTo)
                    .isEqualTo(List.of(registry.host() + "/" + REPOSITORY)));
    // The third node holds no copy: it would mount a peer's, and the members' marks refuse it.
    int third = replica == 2 ? 3 : 2;
    assertThat(node(third).agent.store().hasLayer(secret.digest())).isFalse();
    assertDenied(third, "pod-b", attacker.host() + "/evil/replica:v1", "layer " + secret.digest());
  }

  /** The private manifest with an annotation added: new bytes, same config and layers. */
  private static byte[] crafted(byte[] manifest) {
    String json = new String(manifest, StandardCharsets.UTF_8);
    return (json.substring(0, json.lastIndexOf('}'))
            + ",\"annotations\":{\"org.example.crafted\":\"yes\"}}")
        .getBytes(StandardCharsets.UTF_8);
  }

  private static void assertShowsTheImage(PublishNode.Volume v) {
    for (TestImage.Layer l : IMAGE.layers()) {
      for (Map.Entry<String, String> f : l.files().entrySet()) {
        assertThat(v.target().resolve(f.getKey())).hasContent(f.getValue());
      }
    }
  }

  private void assertDenied(int node, String pod) {
    assertDenied(node, pod, byDigest, "private");
  }

  /** The publish is refused PERMISSION_DENIED, naming the image and {@code why}. */
  private void assertDenied(int node, String pod, String image, String why) {
    assertThatThrownBy(() -> publish(node, image, pod))
        .satisfies(
            e -> {
              Status s = Status.fromThrowable(e);
              assertThat(s.getCode()).as(s.toString()).isEqualTo(Status.Code.PERMISSION_DENIED);
              assertThat(s.getDescription())
                  .contains(image)
                  .contains(why)
                  .contains("nodePublishSecretRef");
            });
  }

  /** The registry's request lines whose client address is {@code address}. */
  private List<String> requestsFrom(String address) throws Exception {
    return requestsFrom(registry, address);
  }

  private static List<String> requestsFrom(RegistryServer registry, String address)
      throws Exception {
    return registry
        .log()
        .lines()
        .filter(
            l ->
                l.contains("http.request.remoteaddr=" + address + ":")
                    || l.contains("http.request.remoteaddr=\"" + address + ":"))
        .filter(l -> l.contains("http.request.uri="))
        .toList();
  }

  private void pullSecret(String name, String user, String password) {
    PullSecrets.create(client, POD_NS, name, registry.host(), user, password);
  }

  /**
   * A pod whose image volume names {@code pullSecret} as its nodePublishSecretRef, and which lists
   * {@code imagePullSecret} in its imagePullSecrets (for its containers; csi.layerns.io does not
   * read them); null for none.
   */
  private void pod(String name, String pullSecret, String imagePullSecret) {
    CSIVolumeSourceBuilder csi =
        new CSIVolumeSourceBuilder()
            .withDriver("csi.layerns.io")
            .withReadOnly(true)
            .withVolumeAttributes(Map.of("image", byDigest));
    if (pullSecret != null) {
      csi.withNewNodePublishSecretRef(pullSecret);
    }
    PodBuilder b =
        new PodBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace(POD_NS)
            .endMetadata()
            .withNewSpec()
            .withAutomountServiceAccountToken(false)
            .addNewContainer()
            .withName("app")
            .withImage("busybox")
            .endContainer()
            .addNewVolume()
            .withName("app")
            .withCsi(csi.build())
            .endVolume()
            .endSpec();
    if (imagePullSecret != null) {
      b.editSpec().addNewImagePullSecret(imagePullSecret).endSpec();
    }
    client.pods().inNamespace(POD_NS).resource(b.build()).createOr(p -> p.update());
  }

  /**
   * Publishes {@code image} for {@code pod} on node {@code i} as the kubelet does: with the data of
   * the Secret that the pod's CSI volume names as its nodePublishSecretRef, read with the kubelet's
   * own access and passed decoded. The node plugin itself reads no Secret.
   */
  private PublishNode.Volume publish(int i, String image, String pod) throws Exception {
    Map<String, String> secrets = new java.util.HashMap<>();
    var csi =
        client.pods().inNamespace(POD_NS).withName(pod).get().getSpec().getVolumes().stream()
            .filter(v -> v.getCsi() != null)
            .findFirst()
            .orElseThrow()
            .getCsi();
    if (csi.getNodePublishSecretRef() != null) {
      client
          .secrets()
          .inNamespace(POD_NS)
          .withName(csi.getNodePublishSecretRef().getName())
          .get()
          .getData()
          .forEach(
              (k, v) ->
                  secrets.put(
                      k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
    }
    return node(i).publish(image, pod, true, secrets);
  }

  private PublishNode node(int i) {
    return cluster.node(i);
  }
}
