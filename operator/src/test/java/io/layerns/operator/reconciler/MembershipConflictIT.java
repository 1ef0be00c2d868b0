package io.layerns.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.operator.testing.SimulatedCluster;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A node selected by two LayerNamespaces joins neither, and both say so. */
@WithControlPlane
class MembershipConflictIT {

  @Test
  void nodeSelectedByTwoNamespacesIsReportedOnBothAndJoinsNeither(ControlPlane cp)
      throws Exception {
    KubernetesClient client = cp.client();
    var cluster = new SimulatedCluster(client);
    cluster.addNode("shared-1", Map.of("team", "a", "tier", "gpu"));
    cluster.addNode("only-a-1", Map.of("team", "a"));
    try (var operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("conflict-it"), Clock.systemUTC())) {
      operator.start();
      create(client, "team-a", Map.of("team", "a"));
      create(client, "gpus", Map.of("tier", "gpu"));

      await("conflict reported on both namespaces")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                for (String ns : new String[] {"team-a", "gpus"}) {
                  var status =
                      client.resources(LayerNamespace.class).withName(ns).get().getStatus();
                  assertThat(status).as(ns).isNotNull();
                  var conflict =
                      Conditions.find(status.conditions(), "NodesConflict").orElseThrow();
                  assertThat(conflict.getStatus()).as(ns).isEqualTo("True");
                  assertThat(conflict.getMessage()).as(ns).contains("shared-1");
                  assertThat(status.nodes()).as(ns).doesNotContain("shared-1");
                }
              });
      assertThat(
              client.resources(LayerNamespace.class).withName("team-a").get().getStatus().nodes())
          .containsExactly("only-a-1");
      assertThat(client.resources(LayerStore.class).withName("shared-1").get()).isNull();
      assertThat(
              client.resources(LayerStore.class).withName("only-a-1").get().getSpec().namespace())
          .isEqualTo("team-a");

      // Fixing one selector resolves it: the node joins the other namespace.
      create(client, "gpus", Map.of("tier", "gpu", "team", "b"));
      await("conflict resolved")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                var status =
                    client.resources(LayerNamespace.class).withName("team-a").get().getStatus();
                assertThat(status.nodes()).containsExactly("only-a-1", "shared-1");
                assertThat(Conditions.isTrue(status.conditions(), "NodesConflict")).isFalse();
              });
    } finally {
      client.resources(LayerNamespace.class).withName("team-a").delete();
      client.resources(LayerNamespace.class).withName("gpus").delete();
    }
  }

  private static void create(KubernetesClient client, String name, Map<String, String> selector) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).build());
    ns.setSpec(new LayerNamespaceSpec(selector, 2, null, null, null, null, null));
    client.resource(ns).forceConflicts().serverSideApply();
  }
}
