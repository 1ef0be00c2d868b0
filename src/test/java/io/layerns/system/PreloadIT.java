package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image listed in a LayerNamespace's preloadImages is pulled from a real registry by one member
 * only, then replicated to {@code replicas} copies from that peer, and its registry repository is
 * recorded as each Layer's source.
 */
@WithControlPlane
class PreloadIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "preload");

  @Test
  void preloadedImageIsPulledOnceAndReplicatedFromPeers(ControlPlane cp, @TempDir Path dir)
      throws Exception {
    KubernetesClient client = cp.client();
    TestImage image = TestImage.threeLayers("preload", Platform.LINUX_AMD64);
    List<InProcessAgent> agents = new ArrayList<>();
    try (RegistryServer registry = RegistryServer.start(dir.resolve("registry"), null);
        var operator =
            new LayernsOperator(
                cp.newAdminClient(), OperatorConfig.embedded("preload-it"), Clock.systemUTC())) {
      new RegistryPusher(registry.url(), null).push("team/app", image, "1.0");
      String reference = registry.host() + "/team/app:1.0";
      operator.start();
      for (int i = 1; i <= 3; i++) {
        TestNodes.addReadyNode(client, "preload-" + i, POOL);
        agents.add(
            InProcessAgent.start(
                cp, "preload-" + i, "127.0.1." + (5 + i), dir.resolve("store-" + i)));
      }
      LayerNamespace ns = new LayerNamespace();
      ns.setMetadata(new ObjectMetaBuilder().withName("preload").build());
      ns.setSpec(new LayerNamespaceSpec(POOL, 2, Transport.Copy, 0, 300, null, List.of(reference)));
      client.resource(ns).forceConflicts().serverSideApply();

      long unique = image.layers().stream().mapToLong(l -> l.blob().length).sum();
      await("every layer of " + reference + " on two nodes")
          .atMost(Duration.ofSeconds(90))
          .untilAsserted(
              () -> {
                for (TestImage.Layer layer : image.layers()) {
                  Layer l =
                      client
                          .resources(Layer.class)
                          .withName(CrdConstants.layerName(layer.digest().toString()))
                          .get();
                  assertThat(l).as(layer.digest().toString()).isNotNull();
                  assertThat(l.getStatus()).isNotNull();
                  assertThat(l.getStatus().copies()).isEqualTo(2);
                  assertThat(l.getSpec().sources()).containsExactly(registry.host() + "/team/app");
                }
                var status =
                    client.resources(LayerNamespace.class).withName("preload").get().getStatus();
                assertThat(status.storedBytes()).isEqualTo(2 * unique);
                assertThat(status.uniqueBytes()).isEqualTo(unique);
              });
      // The operator gave the image to exactly one member to pull.
      long pullers =
          agents.stream()
              .filter(
                  a -> {
                    var store =
                        client
                            .resources(io.layerns.api.v1alpha1.LayerStore.class)
                            .withName(a.name())
                            .get();
                    return store.getSpec().preloadImages() != null
                        && store.getSpec().preloadImages().contains(reference);
                  })
              .count();
      assertThat(pullers).isEqualTo(1);
    } finally {
      for (InProcessAgent a : agents) {
        a.close();
      }
    }
  }

  @Test
  void failedPreloadShowsOnStoreNamespaceAndEventsAndClearsWhenTheRegistryAnswers(
      ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    Map<String, String> pool = Map.of("layerns.test/pool", "preload-fails");
    TestImage image = TestImage.threeLayers("preload-fails", Platform.LINUX_AMD64);
    Path storage = dir.resolve("registry");
    PublishRegistry registry = PublishRegistry.start(storage);
    new RegistryPusher("http://" + registry.host(), null).push("team/app", image, "1.0");
    String reference = registry.host() + "/team/app:1.0";
    int port = registry.port();
    registry.close(); // down: the preload cannot reach it
    InProcessAgent agent = null;
    try (var operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("preload-fail-it"), Clock.systemUTC())) {
      operator.start();
      TestNodes.addReadyNode(client, "preload-fails-1", pool);
      agent = InProcessAgent.start(cp, "preload-fails-1", "127.0.1.21", dir.resolve("store"));
      LayerNamespace ns = new LayerNamespace();
      ns.setMetadata(new ObjectMetaBuilder().withName("preload-fails").build());
      ns.setSpec(new LayerNamespaceSpec(pool, 1, Transport.Copy, 0, 300, null, List.of(reference)));
      client.resource(ns).forceConflicts().serverSideApply();

      await("PreloadFailed on the node's LayerStore, the namespace not Ready, a Warning event")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                Condition failed = storeCondition(client, "preload-fails-1");
                assertThat(failed.getStatus()).isEqualTo("True");
                assertThat(failed.getMessage()).contains(reference).contains("127.0.0.1:" + port);
                Condition ready = namespaceReady(client, "preload-fails");
                assertThat(ready.getStatus()).isEqualTo("False");
                assertThat(ready.getReason()).isEqualTo("PreloadsFailed");
                assertThat(ready.getMessage()).contains("preload-fails-1").contains(reference);
                assertThat(events(client, "preload-fails-1", "PreloadFailed"))
                    .isNotEmpty()
                    .allSatisfy(
                        e -> {
                          assertThat(e.getType()).isEqualTo("Warning");
                          assertThat(e.getRegarding().getKind()).isEqualTo("LayerStore");
                          assertThat(e.getNote()).contains("could not preload " + reference);
                        });
              });
      String failingSince = storeCondition(client, "preload-fails-1").getLastTransitionTime();

      registry = PublishRegistry.start(storage, port); // up again, same address and images
      await("the preload is retried and the failure clears")
          .atMost(Duration.ofSeconds(90))
          .untilAsserted(
              () -> {
                Condition failed = storeCondition(client, "preload-fails-1");
                assertThat(failed.getStatus()).isEqualTo("False");
                // Times have whole seconds: a retry that succeeds within the second the failure
                // was recorded in shows the same time (a clean-clone run hit that).
                assertThat(java.time.Instant.parse(failed.getLastTransitionTime()))
                    .isAfterOrEqualTo(java.time.Instant.parse(failingSince));
                assertThat(namespaceReady(client, "preload-fails").getStatus()).isEqualTo("True");
                assertThat(events(client, "preload-fails-1", "Preloaded")).isNotEmpty();
              });
      assertThat(agent.store().hasBlob(image.layers().getFirst().digest())).isTrue();
    } finally {
      if (agent != null) {
        agent.close();
      }
      registry.close();
    }
  }

  private static Condition storeCondition(KubernetesClient client, String node) {
    var store = client.resources(io.layerns.api.v1alpha1.LayerStore.class).withName(node).get();
    assertThat(store).as("LayerStore " + node + ", which the operator creates").isNotNull();
    assertThat(store.getStatus()).as("status of LayerStore " + node).isNotNull();
    return Conditions.find(store.getStatus().conditions(), Conditions.PRELOAD_FAILED)
        .orElseThrow(() -> new AssertionError("no PreloadFailed condition on " + node));
  }

  private static Condition namespaceReady(KubernetesClient client, String name) {
    var status = client.resources(LayerNamespace.class).withName(name).get().getStatus();
    assertThat(status).as("status of LayerNamespace " + name).isNotNull();
    return Conditions.find(status.conditions(), Conditions.READY).orElseThrow();
  }

  private static List<io.fabric8.kubernetes.api.model.events.v1.Event> events(
      KubernetesClient client, String store, String reason) {
    return client.events().v1().events().inNamespace("default").list().getItems().stream()
        .filter(e -> reason.equals(e.getReason()))
        .filter(e -> store.equals(e.getRegarding().getName()))
        .toList();
  }
}
