package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Status;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.registry.TokenServer;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenants and private images, with the real parts: Debian's docker-registry behind a token service
 * (anonymous users get no access), the control plane with pods and their imagePullSecrets, the
 * operator, and three nodes (127.0.1.1-3) publishing through the CSI socket as the kubelet does.
 *
 * <p>Pod A pulls a private image on node 1; every layer is then in the namespace. Pods without the
 * pull secret (or with a wrong one) are refused PERMISSION_DENIED on node 1 and on node 3; pod C,
 * with the secret, gets the image on node 3 with its layers read from node 1 (no layer from the
 * registry).
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
    pod("pod-a", "regcred");
    pod("pod-b", null);
    pod("pod-b2", "wrongcred");
    pod("pod-c", "regcred");

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
    if (tokens != null) {
      tokens.close();
    }
  }

  @Test
  @Order(1)
  void podAWithThePullSecretGetsThePrivateImageOnNode1() throws Exception {
    PublishNode.Volume v = node(1).publish(byDigest, "pod-a", true);
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
    PublishNode.Volume v = node3.publish(byDigest, "pod-c", true);
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

  private static void assertShowsTheImage(PublishNode.Volume v) {
    for (TestImage.Layer l : IMAGE.layers()) {
      for (Map.Entry<String, String> f : l.files().entrySet()) {
        assertThat(v.target().resolve(f.getKey())).hasContent(f.getValue());
      }
    }
  }

  private void assertDenied(int node, String pod) {
    assertThatThrownBy(() -> node(node).publish(byDigest, pod, true))
        .satisfies(
            e -> {
              Status s = Status.fromThrowable(e);
              assertThat(s.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
              assertThat(s.getDescription()).contains(byDigest).contains("imagePullSecrets");
            });
  }

  /** The registry's request lines whose client address is {@code address}. */
  private List<String> requestsFrom(String address) throws Exception {
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

  private void pod(String name, String pullSecret) {
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
            .endSpec();
    if (pullSecret != null) {
      b.editSpec().addNewImagePullSecret(pullSecret).endSpec();
    }
    client.pods().inNamespace(POD_NS).resource(b.build()).createOr(p -> p.update());
  }

  private PublishNode node(int i) {
    return cluster.node(i);
  }
}
