package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.LayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real node agents on 127.0.1.1-3, each with its own store and HTTP export, and the operator,
 * on the real control plane: a layer imported on one node is assigned to a second one, which
 * fetches it from the first over HTTP and verifies it.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NodeAgentsIT {
  private static final String NS = "agents";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  private KubernetesClient client;
  private LayernsOperator operator;
  private final List<Node> nodes = new ArrayList<>();

  /** One simulated node: its store, its export and its agent. */
  private record Node(String name, LayerStore store, HttpExportServer export, NodeAgent agent)
      implements AutoCloseable {
    @Override
    public void close() throws java.io.IOException {
      agent.close();
      export.close();
      store.close();
    }
  }

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path dir) throws Exception {
    client = cp.client();
    operator =
        new LayernsOperator(
            cp.newAdminClient(),
            new OperatorConfig("agents-it", "default", false, false, 0, Duration.ofMinutes(10)),
            Clock.systemUTC());
    operator.start();
    for (int i = 1; i <= 3; i++) {
      String name = "agent-" + i;
      addNode(name);
      InetAddress address = InetAddress.getByName("127.0.1." + i);
      LayerStore store = LayerStore.open(dir.resolve(name));
      HttpExportServer export =
          HttpExportServer.start(store, new InetSocketAddress(address, 0), Set.of());
      RegistryClient registry = new RegistryClient(Set.of());
      var fetcher =
          new PeerLayerFetcher(
              new PeerFetcher(
                  new ImageImporter(store, registry, Platform.LINUX_AMD64),
                  PeerFetcher.httpClient(address),
                  Duration.ofSeconds(30)),
              registry);
      NodeAgent agent =
          new NodeAgent(
              cp.newAdminClient(),
              name,
              store,
              fetcher,
              List::of,
              new StoreEndpoints(export.baseUri().toString(), null, null),
              10L << 30,
              Duration.ofSeconds(30),
              Clock.systemUTC());
      agent.start();
      nodes.add(new Node(name, store, export, agent));
    }
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(NS).build());
    ns.setSpec(new LayerNamespaceSpec(POOL, 2, Transport.Copy, 0, 300, null, null));
    client.resource(ns).create();
  }

  private void addNode(String name) {
    var node =
        client
            .nodes()
            .resource(
                new NodeBuilder()
                    .withNewMetadata()
                    .withName(name)
                    .withLabels(POOL)
                    .endMetadata()
                    .build())
            .create();
    node.setStatus(
        new NodeStatusBuilder()
            .withConditions(
                new NodeConditionBuilder()
                    .withType("Ready")
                    .withStatus("True")
                    .withReason("KubeletReady")
                    .withLastTransitionTime(Instant.now().toString())
                    .build())
            .build());
    client.nodes().resource(node).updateStatus();
  }

  @AfterAll
  void stop() throws java.io.IOException {
    for (Node n : nodes) {
      n.close();
    }
    if (operator != null) {
      operator.close();
    }
  }

  @Test
  void layerImportedOnOneNodeArrivesVerifiedOnItsSecondOwner() throws Exception {
    TestLayers layer = TestLayers.of(Map.of("etc/greeting", "hello from agent-1\n"), 2 << 20, 7);
    Node first = nodes.getFirst();
    first
        .store()
        .importLayer(
            layer.digest(),
            layer.diffId(),
            TestLayers.GZIP,
            new ByteArrayInputStream(layer.blob()));
    first.agent().trigger();

    String name = CrdConstants.layerName(layer.digest().toString());
    await("two Present copies of " + name)
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(
            () -> {
              Layer l = client.resources(Layer.class).withName(name).get();
              assertThat(l).isNotNull();
              assertThat(l.getStatus().copies()).isEqualTo(2);
              assertThat(l.getStatus().holders()).extracting(LayerHolder::node).contains("agent-1");
            });
    Layer l = client.resources(Layer.class).withName(name).get();
    String second =
        l.getStatus().holders().stream()
            .map(LayerHolder::node)
            .filter(n -> !n.equals("agent-1"))
            .findFirst()
            .orElseThrow();
    Node copy = nodes.stream().filter(n -> n.name().equals(second)).findFirst().orElseThrow();

    var stored = copy.store().layer(layer.digest()).orElseThrow();
    assertThat(stored.diffId()).isEqualTo(layer.diffId());
    assertThat(Files.readString(stored.directory().resolve("etc/greeting")))
        .isEqualTo("hello from agent-1\n");
    assertThat(
            Files.mismatch(
                stored.directory().resolve("blob"),
                first.store().layer(layer.digest()).orElseThrow().directory().resolve("blob")))
        .isEqualTo(-1L);
    var namespace = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
    assertThat(namespace.storedBytes()).isEqualTo(2L * layer.blob().length);
    assertThat(namespace.uniqueBytes()).isEqualTo(layer.blob().length);
  }
}
