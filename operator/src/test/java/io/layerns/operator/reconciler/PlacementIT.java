package io.layerns.operator.reconciler;

import static io.layerns.operator.testing.SimulatedCluster.digest;
import static io.layerns.operator.testing.SimulatedCluster.present;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.operator.testing.SimulatedAgents;
import io.layerns.operator.testing.SimulatedCluster;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Dedup on a real control plane: three nodes that imported the same image end up storing {@code
 * replicas} copies of each layer, in both directions, and a deleted owner is re-replicated without
 * losing a layer. The simulated agents obey their LayerStore spec as the real agent does.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PlacementIT {
  private static final Duration CONVERGE = Duration.ofSeconds(90);
  private static final String NS = "dedup";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final List<String> NODES = List.of("dedup-1", "dedup-2", "dedup-3");
  private static final Map<String, Long> IMAGE = new LinkedHashMap<>();

  static {
    for (int i = 0; i < 6; i++) {
      IMAGE.put(digest("dedup-layer-" + i), 1_000_000L * (i + 1));
    }
  }

  private static final long UNIQUE = IMAGE.values().stream().mapToLong(Long::longValue).sum();

  private KubernetesClient client;
  private LayernsOperator operator;
  private SimulatedAgents agents;

  @BeforeAll
  void setUp(ControlPlane cp) throws Exception {
    client = cp.client();
    client
        .namespaces()
        .resource(
            new NamespaceBuilder()
                .withNewMetadata()
                .withName("layerns-system")
                .endMetadata()
                .build())
        .serverSideApply();
    operator =
        new LayernsOperator(
            cp.newAdminClient(),
            new OperatorConfig(
                "placement-it", "layerns-system", false, false, 0, Duration.ofMinutes(10)),
            Clock.systemUTC());
    operator.start();
    agents = new SimulatedAgents(cp.newAdminClient());
    SimulatedCluster cluster = new SimulatedCluster(client);
    NODES.forEach(n -> cluster.addNode(n, POOL));
    setReplicas(3); // start with every node keeping its copy
  }

  @AfterAll
  void tearDown() {
    agents.close();
    operator.close();
  }

  @Test
  @Order(1)
  void threeNodesImportTheSameImage() {
    List<HeldLayer> image =
        IMAGE.entrySet().stream()
            .map(e -> present(e.getKey(), e.getValue(), "registry.test/app"))
            .toList();
    NODES.forEach(n -> agents.importLayers(n, image));
    awaitStored(3 * UNIQUE);
  }

  @Test
  @Order(2)
  void replicasOneConvergesToTheUniqueBytes() {
    setReplicas(1);
    awaitStored(UNIQUE);
    awaitEveryLayerHas(1);
  }

  @Test
  @Order(3)
  void replicasTwoConvergesToTwiceTheUniqueBytes() {
    setReplicas(2);
    awaitStored(2 * UNIQUE);
    awaitEveryLayerHas(2);
  }

  @Test
  @Order(4)
  void deletingAnOwnerReReplicatesWithoutLosingALayer() {
    String victim = layer(IMAGE.keySet().iterator().next()).getStatus().owners().getFirst();
    client.nodes().withName(victim).delete();
    Set<String> survivors = new java.util.TreeSet<>(NODES);
    survivors.remove(victim);
    await("re-replicated on " + survivors)
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              var status = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(status.nodes()).containsExactlyElementsOf(survivors);
              assertThat(status.storedBytes()).isEqualTo(2 * UNIQUE);
              assertThat(status.lostLayers()).isZero();
            });
    awaitEveryLayerHas(2);
    assertThat(agents.storedBytes(survivors)).isEqualTo(2 * UNIQUE);
  }

  @Test
  @Order(5)
  void aLayerWhoseOnlyHolderIsDeletedIsFetchedAgainFromItsSource() {
    setReplicas(1);
    awaitStored(UNIQUE);
    awaitEveryLayerHas(1);
    // With one copy each, deleting a holder takes the only copy of its layers, node and store.
    String victim = layer(IMAGE.keySet().iterator().next()).getStatus().owners().getFirst();
    client.nodes().withName(victim).delete();
    await("the layers " + victim + " held fetched again from their source")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              var status = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(status.nodes()).doesNotContain(victim);
              assertThat(status.uniqueBytes()).isEqualTo(UNIQUE);
              assertThat(status.storedBytes()).isEqualTo(UNIQUE);
              assertThat(status.lostLayers()).isZero();
            });
    awaitEveryLayerHas(1);
  }

  private void setReplicas(int replicas) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(NS).build());
    // Grace 0: copies that are no longer owned go at once, so the test sees dedup immediately.
    ns.setSpec(new LayerNamespaceSpec(POOL, replicas, Transport.Copy, 0, 300, null, null));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  private void awaitStored(long bytes) {
    await("stored bytes " + bytes)
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              var status = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(status).isNotNull();
              assertThat(status.storedBytes()).isEqualTo(bytes);
              assertThat(status.uniqueBytes()).isEqualTo(UNIQUE);
              assertThat(status.lostLayers()).isZero();
            });
  }

  private void awaitEveryLayerHas(int copies) {
    await(copies + " copies of every layer")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              for (String d : IMAGE.keySet()) {
                Layer l = layer(d);
                assertThat(l.getStatus().copies()).as(d).isEqualTo(copies);
                assertThat(l.getStatus().owners()).as(d).hasSize(copies);
              }
            });
  }

  private Layer layer(String digest) {
    return client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
  }
}
