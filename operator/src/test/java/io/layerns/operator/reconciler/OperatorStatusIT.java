package io.layerns.operator.reconciler;

import static io.layerns.operator.testing.SimulatedCluster.digest;
import static io.layerns.operator.testing.SimulatedCluster.present;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerReference;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.operator.testing.OperatorMetrics;
import io.layerns.operator.testing.SimulatedCluster;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The operator on a real control plane with three simulated nodes: stores are created, statuses
 * converge to figures this test computes on its own, a deleted node disappears from every status,
 * and a restart writes nothing.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorStatusIT {
  private static final Duration CONVERGE = Duration.ofSeconds(60);
  private static final String NS = "blue";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  // Three images sharing a base layer: what the simulated nodes hold.
  private static final String BASE = digest("base");
  private static final String APP1 = digest("app1");
  private static final String APP2 = digest("app2");
  private static final String LONE = digest("lone");
  private static final Map<String, Long> SIZE =
      Map.of(BASE, 30_000_000L, APP1, 5_000_000L, APP2, 7_000_000L, LONE, 1_000_000L);

  private KubernetesClient client;
  private ControlPlane controlPlane;
  private SimulatedCluster cluster;
  private LayernsOperator operator;

  @BeforeAll
  void startOperator(ControlPlane cp) throws Exception {
    controlPlane = cp;
    client = cp.client();
    cluster = new SimulatedCluster(client);
    client
        .namespaces()
        .resource(
            new NamespaceBuilder()
                .withNewMetadata()
                .withName("layerns-system")
                .endMetadata()
                .build())
        .serverSideApply();
    operator = startOperator();
    for (String n : List.of("blue-1", "blue-2", "blue-3")) {
      cluster.addNode(n, POOL);
    }
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(NS).build());
    ns.setSpec(new LayerNamespaceSpec(POOL, 2, Transport.Sshfs, 60, 300, null, null));
    client.resource(ns).create();
  }

  private LayernsOperator startOperator() throws Exception {
    var config =
        new OperatorConfig(
            "test-operator", "layerns-system", true, false, 0, Duration.ofSeconds(5));
    LayernsOperator op =
        new LayernsOperator(controlPlane.newAdminClient(), config, Clock.systemUTC());
    op.start();
    return op;
  }

  @AfterAll
  void stopOperator() {
    if (operator != null) {
      operator.close();
    }
  }

  @Test
  @Order(1)
  void createsAStoreOwnedByEachMemberNode() {
    for (String n : List.of("blue-1", "blue-2", "blue-3")) {
      LayerStore store = cluster.awaitStore(n);
      assertThat(store.getSpec().namespace()).isEqualTo(NS);
      assertThat(store.getSpec().transport()).isEqualTo(Transport.Sshfs);
      assertThat(store.getMetadata().getOwnerReferences())
          .singleElement()
          .satisfies(
              o -> {
                assertThat(o.getKind()).isEqualTo("Node");
                assertThat(o.getUid())
                    .isEqualTo(client.nodes().withName(n).get().getMetadata().getUid());
              });
    }
    assertThat(
            client
                .leases()
                .inNamespace("layerns-system")
                .withName(LayernsOperator.LEASE_NAME)
                .get())
        .as("leader election Lease")
        .isNotNull();
  }

  @Test
  @Order(2)
  void statusesConvergeToTheFiguresOfTheStores() {
    Map<String, List<HeldLayer>> held =
        Map.of(
            "blue-1",
                List.of(
                    present(BASE, SIZE.get(BASE), "registry.test/app"),
                    present(APP1, SIZE.get(APP1))),
            "blue-2", List.of(present(BASE, SIZE.get(BASE)), present(APP2, SIZE.get(APP2))),
            "blue-3", List.of(present(BASE, SIZE.get(BASE)), present(LONE, SIZE.get(LONE))));
    // blue-3 runs a pod that reads APP1 from blue-1 through a remote mount.
    var volume =
        new PublishedVolume(
            "vol-1",
            "default/app",
            "registry.test/app:1",
            List.of(new VolumeLayer(BASE, "blue-3"), new VolumeLayer(APP1, "blue-1")));
    held.forEach(
        (node, layers) ->
            cluster.report(node, layers, node.equals("blue-3") ? List.of(volume) : List.of()));

    // Figures computed here, independently of the operator's aggregation.
    long stored = held.values().stream().flatMap(List::stream).mapToLong(HeldLayer::size).sum();
    long unique = SIZE.values().stream().mapToLong(Long::longValue).sum();
    long naive = stored + SIZE.get(APP1); // blue-3 would also keep its own copy of APP1
    String ratio =
        new java.math.BigDecimal(naive)
            .divide(new java.math.BigDecimal(stored), 2, java.math.RoundingMode.HALF_UP)
            .toPlainString();

    await("namespace status")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              var status = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(status).isNotNull();
              assertThat(status.nodes()).containsExactly("blue-1", "blue-2", "blue-3");
              assertThat(status.readyNodes()).isEqualTo(3);
              assertThat(status.layerCount()).isEqualTo(4);
              assertThat(status.storedBytes()).isEqualTo(stored);
              assertThat(status.uniqueBytes()).isEqualTo(unique);
              assertThat(status.dedupRatio()).isEqualTo(ratio);
              // replicas 2: APP1, APP2 and LONE have one copy each
              assertThat(status.underReplicatedLayers()).isEqualTo(3);
              assertThat(status.lostLayers()).isZero();
              assertThat(status.observedGeneration()).isEqualTo(1L);
            });
    await("Layer statuses")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              Layer base = layer(BASE);
              assertThat(base.getSpec().sources()).containsExactly("registry.test/app");
              assertThat(base.getStatus().holders())
                  .extracting(LayerHolder::node)
                  .containsExactly("blue-1", "blue-2", "blue-3");
              assertThat(base.getStatus().copies()).isEqualTo(3);
              assertThat(Conditions.isTrue(base.getStatus().conditions(), "Ready")).isTrue();
              Layer app1 = layer(APP1);
              assertThat(app1.getStatus().copies()).isEqualTo(1);
              assertThat(app1.getStatus().references())
                  .containsExactly(new LayerReference("blue-3", "blue-1", 1));
              assertThat(app1.getStatus().referenceCount()).isEqualTo(1);
              assertThat(Conditions.isTrue(app1.getStatus().conditions(), "Replicated")).isFalse();
            });
    assertThat(eventReasons(NS)).contains("NodeJoined");
  }

  @Test
  @Order(3)
  void kubectlShowsTheFiguresAnAdminReads() throws Exception {
    String out = kubectl("get", "lns,lyr,lst", "-o", "wide");
    System.out.println("kubectl get lns,lyr,lst -o wide\n" + out);
    assertThat(out)
        .contains(
            "TRANSPORT",
            "REPLICAS",
            "NODES",
            "STORED",
            "UNIQUE",
            "SAVED",
            "REGISTRY-SAVED",
            "PRIVATE-COPIES",
            "RATIO",
            "COPIES",
            "OWNERS",
            "REFS")
        .contains("3/3")
        .contains(CrdConstants.layerName(BASE));
    assertThat(out.lines().filter(l -> l.startsWith("layernamespace.layerns.io/" + NS)))
        .singleElement()
        .satisfies(line -> assertThat(line.split("\\s+")).contains("Sshfs", "2", "3/3", "4"));
  }

  private String kubectl(String... args) throws Exception {
    return controlPlane.runKubectl(args);
  }

  @Test
  @Order(4)
  void oneStoreChangeRewritesOnlyTheLayersThatChanged() throws Exception {
    Map<String, String> before = layerVersions();
    long reconciled = OperatorMetrics.reconciliations(operator.httpPort(), "layer");
    // blue-2 also gets a copy of LONE: only LONE's status changes.
    cluster.report(
        "blue-2",
        List.of(
            present(BASE, SIZE.get(BASE)),
            present(APP2, SIZE.get(APP2)),
            present(LONE, SIZE.get(LONE))),
        List.of());
    await().atMost(CONVERGE).until(() -> layer(LONE).getStatus().copies() == 2);
    // The store event wakes only the Layers whose status it can change (LONE here, and whatever
    // the namespace's placement then touches); wait until every reconcile it caused has finished.
    await()
        .atMost(CONVERGE)
        .until(() -> OperatorMetrics.reconciliations(operator.httpPort(), "layer") > reconciled);
    await("operator settled")
        .atMost(CONVERGE)
        .pollInterval(Duration.ofSeconds(1))
        .until(OperatorMetrics.settled(operator.httpPort()));
    Map<String, String> after = layerVersions();
    Set<String> changed =
        before.keySet().stream()
            .filter(k -> !before.get(k).equals(after.get(k)))
            .collect(Collectors.toSet());
    assertThat(changed).containsExactly(CrdConstants.layerName(LONE));
  }

  @Test
  @Order(5)
  void restartingTheOperatorWritesNoStatus() throws Exception {
    // The previous test's placement must be fully written first: a snapshot taken while the old
    // operator still wrote LayerStore specs, or waited to retry a conflicting status write, was
    // finished by the new operator and failed this test under load.
    await("operator settled")
        .atMost(CONVERGE)
        .pollInterval(Duration.ofSeconds(1))
        .until(OperatorMetrics.settled(operator.httpPort()));
    Map<String, String> layers = layerVersions();
    String ns =
        client
            .resources(LayerNamespace.class)
            .withName(NS)
            .get()
            .getMetadata()
            .getResourceVersion();
    operator.close();
    operator = startOperator();
    // A fresh operator reconciles every Layer and namespace once at start; wait until it has.
    await()
        .atMost(CONVERGE)
        .until(
            () ->
                OperatorMetrics.reconciliations(operator.httpPort(), "layer") >= layers.size()
                    && OperatorMetrics.reconciliations(operator.httpPort(), "layernamespace") >= 1);
    assertThat(layerVersions()).isEqualTo(layers);
    assertThat(
            client
                .resources(LayerNamespace.class)
                .withName(NS)
                .get()
                .getMetadata()
                .getResourceVersion())
        .isEqualTo(ns);
  }

  @Test
  @Order(6)
  void deletingANodeRemovesItFromEveryStatus() {
    client.nodes().withName("blue-3").delete();
    await("store garbage-collected")
        .atMost(CONVERGE)
        .until(() -> client.resources(LayerStore.class).withName("blue-3").get() == null);
    await("namespace without blue-3")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              var status = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(status.nodes()).containsExactly("blue-1", "blue-2");
              assertThat(status.storedBytes())
                  .isEqualTo(SIZE.get(BASE) * 2 + SIZE.get(APP1) + SIZE.get(APP2) + SIZE.get(LONE));
            });
    await("layers without blue-3")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              assertThat(layer(BASE).getStatus().holders())
                  .extracting(LayerHolder::node)
                  .containsExactly("blue-1", "blue-2");
              assertThat(layer(APP1).getStatus().references()).isEmpty();
              assertThat(layer(LONE).getStatus().holders())
                  .extracting(LayerHolder::node)
                  .containsExactly("blue-2");
            });
    assertThat(eventReasons(NS)).contains("NodeLeft");
  }

  @Test
  @Order(7)
  void aLayerWithNoCopyAndNoSourceIsReportedLostThenCleanedUp() {
    // blue-2 drops LONE (its last copy; it has no source).
    cluster.report(
        "blue-2", List.of(present(BASE, SIZE.get(BASE)), present(APP2, SIZE.get(APP2))), List.of());
    await("LONE lost")
        .atMost(CONVERGE)
        .until(
            () -> {
              Layer l = layer(LONE);
              return l != null && Conditions.isTrue(l.getStatus().conditions(), "Lost");
            });
    assertThat(eventReasons(CrdConstants.layerName(LONE))).contains("LayerLost");
    // Nothing holds, owns or uses it, and it cannot be fetched again: removed after the 5 s grace.
    await("LONE cleaned up").atMost(CONVERGE).until(() -> layer(LONE) == null);
    // BASE has a source, so it would stay even without holders.
    assertThat(layer(BASE)).isNotNull();
  }

  private Layer layer(String digest) {
    return client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
  }

  private Map<String, String> layerVersions() {
    Map<String, String> out = new HashMap<>();
    client.resources(Layer.class).list().getItems().stream()
        .filter(l -> Set.of(BASE, APP1, APP2, LONE).contains(l.getSpec().digest()))
        .forEach(l -> out.put(l.getMetadata().getName(), l.getMetadata().getResourceVersion()));
    return out;
  }

  private Set<String> eventReasons(String objectName) {
    return new HashSet<>(
        client.events().v1().events().inNamespace("default").list().getItems().stream()
            .filter(e -> e.getRegarding() != null && objectName.equals(e.getRegarding().getName()))
            .map(Event::getReason)
            .toList());
  }
}
