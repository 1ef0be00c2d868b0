package io.layerns.operator.reconciler;

import static io.layerns.operator.testing.SimulatedCluster.digest;
import static io.layerns.operator.testing.SimulatedCluster.present;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.operator.status.LayerAggregator;
import io.layerns.operator.testing.SimulatedAgents;
import io.layerns.operator.testing.SimulatedCluster;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 20 on a real control plane: with a cold tier, the operator names one cold keeper per layer,
 * keeps replicas node copies until that keeper reports the bucket copy Confirmed, then keeps
 * coldTier.replicas, and brings the copies back when the bucket copy turns out Corrupt. The test
 * plays the node agents (holding what their spec assigns) and the bucket (what each agent reports
 * of it). The layers have no registry source: the bucket is their only way back.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ColdTierIT {
  private static final Duration CONVERGE = Duration.ofSeconds(90);
  private static final String NS = "cold";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final List<String> NODES = List.of("cold-1", "cold-2", "cold-3");
  private static final Map<String, Long> IMAGE = new LinkedHashMap<>();

  static {
    for (int i = 0; i < 3; i++) {
      IMAGE.put(digest("cold-layer-" + i), 1_000_000L * (i + 1));
    }
  }

  private static final long UNIQUE = IMAGE.values().stream().mapToLong(Long::longValue).sum();
  private static final String FIRST = IMAGE.keySet().iterator().next();

  private ControlPlane controlPlane;
  private KubernetesClient client;
  private LayernsOperator operator;
  private SimulatedAgents agents;

  @BeforeAll
  void setUp(ControlPlane cp) throws Exception {
    controlPlane = cp;
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
                "cold-tier-it", "layerns-system", false, false, 0, Duration.ofMinutes(10)),
            Clock.systemUTC());
    operator.start();
    agents = new SimulatedAgents(cp.newAdminClient());
    SimulatedCluster cluster = new SimulatedCluster(client);
    NODES.forEach(n -> cluster.addNode(n, POOL));
    apply(2, 1);
  }

  @AfterAll
  void tearDown() {
    if (agents != null) {
      agents.close();
    }
    if (operator != null) {
      operator.close();
    }
  }

  @Test
  @Order(1)
  void theOperatorNamesOneColdKeeperPerLayerAmongItsHolders() {
    // Every node imported the image; Layers come from these reports, as in PlacementIT.
    List<HeldLayer> image =
        IMAGE.entrySet().stream().map(e -> present(e.getKey(), e.getValue())).toList();
    NODES.forEach(n -> agents.importLayers(n, image));
    // Each agent reaches the bucket (a real one checks it at start and keeps the condition).
    NODES.forEach(n -> agents.reportColdTierReady(n, true, "Bucket reachable."));
    awaitCopies(2, 2 * UNIQUE);
    awaitSettled();
    await("one cold keeper per layer, an owner, shown on the Layer")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              Map<String, List<String>> keepers = keepers();
              for (String d : IMAGE.keySet()) {
                assertThat(keepers.get(d)).as(d).hasSize(1);
                Layer layer = layer(d);
                assertThat(layer.getStatus().owners()).contains(keepers.get(d).getFirst());
                assertThat(layer.getStatus().coldCopy()).isNotNull();
                assertThat(layer.getStatus().coldCopy().node())
                    .isEqualTo(keepers.get(d).getFirst());
                assertThat(layer.getStatus().coldCopy().state()).isNull();
              }
              var store = client.resources(LayerStore.class).withName(NODES.getFirst()).get();
              assertThat(store.getSpec().coldTier()).isEqualTo(coldTier(1));
            });
  }

  @Test
  @Order(2)
  void confirmationsFromOtherNodesAndAFailedBucketDropNothing() {
    Map<String, String> keeper = keeperOfEach();
    for (String d : IMAGE.keySet()) {
      // The member that holds no copy claims the bucket copy is Confirmed: not believed. (A
      // holder is not used here: the keeper may move among holders, see docs/architecture.md.)
      for (String node : NODES) {
        if (!holdersInStores(d).contains(node)) {
          agents.reportColdCopy(node, d, ColdCopyState.Confirmed, "claimed by a non-keeper");
        }
      }
      agents.reportColdCopy(keeper.get(d), d, ColdCopyState.Failed, "connection refused");
    }
    // The operator has read every report once the namespace's ColdTierReady names the failed
    // copies; the specs it wrote from that same observation still keep two copies of each.
    await("the failed bucket copies reported on the namespace")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              Condition cold = coldTierReady();
              assertThat(cold.getStatus()).isEqualTo("False");
              assertThat(cold.getMessage()).contains("3 bucket copies are not Confirmed");
              for (String d : IMAGE.keySet()) {
                assertThat(layer(d).getStatus().coldCopy().state()).isEqualTo(ColdCopyState.Failed);
              }
            });
    assertThat(namespace().coldLayers()).isZero();
    for (String d : IMAGE.keySet()) {
      assertThat(ownersInSpecs(d)).as(d).hasSize(2);
      assertThat(layer(d).getStatus().copies()).as(d).isEqualTo(2);
    }
    assertThat(namespace().storedBytes()).isEqualTo(2 * UNIQUE);
  }

  @Test
  @Order(3)
  void theKeepersConfirmationLetsTheLayerKeepColdReplicas() {
    keeperOfEach()
        .forEach((d, node) -> agents.reportColdCopy(node, d, ColdCopyState.Confirmed, null));
    awaitCopies(1, UNIQUE);
    awaitSettled();
    await("the keeper keeps the one node copy; the namespace counts the cold layers")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              Map<String, String> keeper = keeperOfEach();
              for (String d : IMAGE.keySet()) {
                Layer layer = layer(d);
                assertThat(layer.getStatus().owners()).containsExactly(keeper.get(d));
                assertThat(layer.getStatus().holderSummary()).isEqualTo(keeper.get(d));
                assertThat(layer.getStatus().coldCopy().state()).isEqualTo(ColdCopyState.Confirmed);
              }
              LayerNamespaceStatus status = namespace();
              assertThat(status.coldLayers()).isEqualTo(IMAGE.size());
              assertThat(status.coldBytes()).isEqualTo(UNIQUE);
              assertThat(status.underReplicatedLayers()).isZero();
              assertThat(coldTierReady().getStatus())
                  .as(coldTierReady().getMessage())
                  .isEqualTo("True");
            });
  }

  @Test
  @Order(4)
  void aCorruptBucketCopyRaisesTheNodeCopiesAgain() {
    String keeper = keeperOfEach().get(FIRST);
    agents.reportColdCopy(keeper, FIRST, ColdCopyState.Corrupt, "digest mismatch");
    await("two copies of " + FIRST + " again, one of the others")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              for (String d : IMAGE.keySet()) {
                assertThat(layer(d).getStatus().copies()).as(d).isEqualTo(d.equals(FIRST) ? 2 : 1);
              }
              assertThat(layer(FIRST).getStatus().coldCopy().state())
                  .isEqualTo(ColdCopyState.Corrupt);
              assertThat(namespace().coldLayers()).isEqualTo(IMAGE.size() - 1);
              assertThat(eventReasons(CrdConstants.layerName(FIRST)))
                  .contains("ColdCopyConfirmed", "ColdCopyCorrupt");
            });
    // Written again from a node copy and confirmed: back to one.
    agents.reportColdCopy(keeperOfEach().get(FIRST), FIRST, ColdCopyState.Confirmed, null);
    awaitCopies(1, UNIQUE);
    awaitSettled();
  }

  @Test
  @Order(5)
  void kubectlShowsWhereTheCopiesAre() throws Exception {
    await("every Layer's status shows its holder and Confirmed bucket copy")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              for (String d : IMAGE.keySet()) {
                assertThat(layer(d).getStatus().holderSummary()).isNotEqualTo("<none>");
              }
            });
    String out = kubectl("get", "lns,lyr", "-o", "wide");
    System.out.println("kubectl get lns,lyr -o wide\n" + out);
    assertThat(out).contains("HOLDERS", "COLD", "Confirmed");
    for (String d : IMAGE.keySet()) {
      assertThat(
              out.lines()
                  .filter(l -> l.startsWith("layer.layerns.io/" + CrdConstants.layerName(d))))
          .singleElement()
          .satisfies(
              line ->
                  assertThat(line.split("\\s+")).contains(keeperOfEach().get(d), "Confirmed", "1"));
    }
  }

  private String kubectl(String... args) throws Exception {
    return controlPlane.runKubectl(args);
  }

  @Test
  @Order(6)
  void coldReplicasZeroKeepsTheLayersOnlyInTheBucketNotLost() {
    apply(2, 0);
    awaitCopies(0, 0);
    await("Layers kept, Available from the bucket, not Lost; the keepers still listed")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              Map<String, List<String>> keepers = keepers();
              for (String d : IMAGE.keySet()) {
                Layer layer = layer(d);
                assertThat(layer).as(d).isNotNull();
                assertThat(Conditions.isTrue(layer.getStatus().conditions(), LayerAggregator.LOST))
                    .isFalse();
                assertThat(
                        Conditions.isTrue(
                            layer.getStatus().conditions(), LayerAggregator.AVAILABLE))
                    .isTrue();
                assertThat(keepers.get(d)).hasSize(1);
              }
              assertThat(namespace().lostLayers()).isZero();
              assertThat(namespace().coldLayers()).isEqualTo(IMAGE.size());
            });
    // The bucket copy of one layer is gone: its keeper says so, and nobody holds it any more.
    agents.reportColdCopy(keeperOfEach().get(FIRST), FIRST, ColdCopyState.Missing, "NoSuchKey");
    await(FIRST + " reported lost")
        .atMost(CONVERGE)
        .untilAsserted(
            () ->
                assertThat(
                        Conditions.isTrue(
                            layer(FIRST).getStatus().conditions(), LayerAggregator.LOST))
                    .isTrue());
  }

  private void apply(int replicas, int coldReplicas) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NS).build());
    // Grace 0: copies that are no longer owned go at once, so the test sees the drop immediately.
    ns.setSpec(
        new LayerNamespaceSpec(
            POOL, replicas, Transport.Copy, 0, 300, null, null, null, coldTier(coldReplicas)));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  private static ColdTier coldTier(int replicas) {
    return new ColdTier(
        "http://127.0.0.1:8333", "layerns-cold", "layerns/", "us-east-1", true, "s3", replicas);
  }

  private void awaitCopies(int copies, long stored) {
    await(copies + " copies of every layer, " + stored + " bytes stored")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              LayerNamespaceStatus status = namespace();
              assertThat(status).isNotNull();
              assertThat(status.storedBytes()).isEqualTo(stored);
              assertThat(status.lostLayers()).isZero();
              for (String d : IMAGE.keySet()) {
                Layer l = layer(d);
                assertThat(l.getStatus().copies()).as(d).isEqualTo(copies);
                assertThat(l.getStatus().owners()).as(d).hasSize(copies);
              }
            });
  }

  /**
   * Waits until the agents acted on their latest specs and every Layer's status says what the
   * stores say (holders, owners, keeper): the test then reads one consistent picture, not one
   * object ahead of another while the operator converges.
   */
  private void awaitSettled() {
    await("stores and Layers agree")
        .atMost(CONVERGE)
        .untilAsserted(
            () -> {
              for (LayerStore store : client.resources(LayerStore.class).list().getItems()) {
                assertThat(store.getStatus()).isNotNull();
                assertThat(store.getStatus().observedGeneration())
                    .as(store.getMetadata().getName())
                    .isEqualTo(store.getMetadata().getGeneration());
              }
              Map<String, List<String>> keepers = keepers();
              for (String d : IMAGE.keySet()) {
                Layer layer = layer(d);
                assertThat(String.join(",", holdersInStores(d)))
                    .isEqualTo(layer.getStatus().holderSummary());
                assertThat(ownersInSpecs(d)).containsExactlyElementsOf(layer.getStatus().owners());
                assertThat(keepers.get(d)).hasSize(1);
                assertThat(holdersInStores(d)).contains(keepers.get(d).getFirst());
                assertThat(layer.getStatus().coldCopy().node())
                    .isEqualTo(keepers.get(d).getFirst());
              }
            });
  }

  /** The nodes whose store reports a Present copy of the digest, sorted. */
  private List<String> holdersInStores(String digest) {
    List<String> out = new ArrayList<>();
    for (LayerStore store : client.resources(LayerStore.class).list().getItems()) {
      if (store.getStatus() != null && store.getStatus().layers() != null) {
        store.getStatus().layers().stream()
            .filter(h -> h.digest().equals(digest) && h.state() == CopyState.Present)
            .forEach(h -> out.add(store.getMetadata().getName()));
      }
    }
    out.sort(null);
    return out;
  }

  /** Per digest, the nodes whose spec marks them its cold keeper. */
  private Map<String, List<String>> keepers() {
    Map<String, List<String>> out = new TreeMap<>();
    for (LayerStore store : client.resources(LayerStore.class).list().getItems()) {
      if (store.getSpec() == null || store.getSpec().layers() == null) {
        continue;
      }
      for (AssignedLayer a : store.getSpec().layers()) {
        if (a.keepsColdCopy()) {
          out.computeIfAbsent(a.digest(), d -> new ArrayList<>()).add(store.getSpec().nodeName());
        }
      }
    }
    return out;
  }

  private Map<String, String> keeperOfEach() {
    Map<String, String> out = new TreeMap<>();
    keepers()
        .forEach(
            (d, nodes) -> {
              assertThat(nodes).as("keepers of " + d).hasSize(1);
              out.put(d, nodes.getFirst());
            });
    assertThat(out.keySet()).containsAll(IMAGE.keySet());
    return out;
  }

  private List<String> ownersInSpecs(String digest) {
    List<String> out = new ArrayList<>();
    for (LayerStore store : client.resources(LayerStore.class).list().getItems()) {
      if (store.getSpec() != null && store.getSpec().layers() != null) {
        store.getSpec().layers().stream()
            .filter(a -> a.digest().equals(digest) && "Owner".equals(a.reason()))
            .forEach(a -> out.add(store.getSpec().nodeName()));
      }
    }
    out.sort(null);
    return out;
  }

  private java.util.Set<String> eventReasons(String objectName) {
    return new java.util.HashSet<>(
        client.events().v1().events().inNamespace("default").list().getItems().stream()
            .filter(e -> e.getRegarding() != null && objectName.equals(e.getRegarding().getName()))
            .map(io.fabric8.kubernetes.api.model.events.v1.Event::getReason)
            .toList());
  }

  private LayerNamespaceStatus namespace() {
    return client.resources(LayerNamespace.class).withName(NS).get().getStatus();
  }

  private Condition coldTierReady() {
    return Conditions.find(namespace().conditions(), Conditions.COLD_TIER_READY).orElseThrow();
  }

  private Layer layer(String digest) {
    return client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
  }
}
