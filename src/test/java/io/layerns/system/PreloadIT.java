package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
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
}
