package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
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
 * Three real node agents on 127.0.1.1-3, each with its own store and HTTP export, and the operator,
 * on the real control plane: a layer imported on one node is assigned to a second one, which
 * fetches it from the first over HTTP and verifies it.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
// The first test counts the namespace's bytes; the second adds a layer of its own after it.
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NodeAgentsIT {
  private static final String NS = "agents";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  private KubernetesClient client;
  private LayernsOperator operator;
  private final List<InProcessAgent> nodes = new ArrayList<>();

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path dir) throws Exception {
    client = cp.client();
    operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("agents-it"), Clock.systemUTC());
    operator.start();
    for (int i = 1; i <= 3; i++) {
      String name = "agent-" + i;
      TestNodes.addReadyNode(client, name, POOL);
      nodes.add(InProcessAgent.start(cp, name, "127.0.1." + i, dir.resolve(name)));
    }
    TestNodes.addNamespace(client, NS, POOL, 2, Transport.Copy);
  }

  @AfterAll
  void stop() throws java.io.IOException {
    for (InProcessAgent n : nodes) {
      n.close();
    }
    if (operator != null) {
      operator.close();
    }
  }

  @Test
  @Order(1)
  void layerImportedOnOneNodeArrivesVerifiedOnItsSecondOwner() throws Exception {
    TestLayers layer = TestLayers.of(Map.of("etc/greeting", "hello from agent-1\n"), 2 << 20, 7);
    InProcessAgent first = nodes.getFirst();
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
              assertThat(l.getStatus()).as("status of " + name).isNotNull();
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
    InProcessAgent copy =
        nodes.stream().filter(n -> n.name().equals(second)).findFirst().orElseThrow();

    var stored = copy.store().layer(layer.digest()).orElseThrow();
    assertThat(stored.diffId()).isEqualTo(layer.diffId());
    assertThat(Files.readString(stored.directory().resolve("etc/greeting")))
        .isEqualTo("hello from agent-1\n");
    assertThat(
            Files.mismatch(
                stored.directory().resolve("blob"),
                first.store().layer(layer.digest()).orElseThrow().directory().resolve("blob")))
        .isEqualTo(-1L);
    // The namespace's figures follow the stores' reports: wait for them rather than race them.
    await("namespace " + NS + " counts both copies")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              var namespace = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
              assertThat(namespace).isNotNull();
              assertThat(namespace.storedBytes()).isEqualTo(2L * layer.blob().length);
              assertThat(namespace.uniqueBytes()).isEqualTo(layer.blob().length);
            });
  }

  @Test
  @Order(2)
  void theNamespaceCountsBytesFromPeersAndTheCopyDedupReleased() throws Exception {
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "saved by agent-3\n"), 1 << 20, 18);
    long size = layer.blob().length;
    String digest = layer.digest().toString();
    InProcessAgent importer = nodes.getLast();
    importer
        .store()
        .importLayer(
            layer.digest(),
            layer.diffId(),
            TestLayers.GZIP,
            new ByteArrayInputStream(layer.blob()));
    importer.agent().trigger();
    String name = CrdConstants.layerName(digest);
    await("a second copy of " + name + ", fetched from " + importer.name())
        .atMost(Duration.ofSeconds(90))
        .until(
            () -> {
              Layer l = client.resources(Layer.class).withName(name).get();
              return l != null && l.getStatus() != null && l.getStatus().copies() == 2;
            });
    String fetcher =
        client.resources(Layer.class).withName(name).get().getStatus().holders().stream()
            .map(LayerHolder::node)
            .filter(n -> !n.equals(importer.name()))
            .findFirst()
            .orElseThrow();
    await(fetcher + " reports the bytes it fetched from its peer, and the namespace sums them")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              var fetched = storeStatus(fetcher).fetchedFromPeersBytes();
              assertThat(fetched).isGreaterThanOrEqualTo(size);
              assertThat(namespaceStatus().registryBytesAvoided()).isEqualTo(peerBytesOfAll());
            });

    try {
      TestNodes.addNamespace(client, NS, POOL, 1, Transport.Copy);
      await("one copy of " + name + " left")
          .atMost(Duration.ofSeconds(90))
          .until(
              () -> client.resources(Layer.class).withName(name).get().getStatus().copies() == 1);
      String keeper =
          client.resources(Layer.class).withName(name).get().getStatus().holders().stream()
              .map(LayerHolder::node)
              .findFirst()
              .orElseThrow();
      await("the stores and the namespace tell what dedup saved")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                // The importer pulled the layer for itself: its copy, once dropped, is released.
                // The fetcher's copy only met replicas: dropping it saves nothing.
                List<String> released = storeStatus(importer.name()).releasedLayers();
                released = released == null ? List.of() : released;
                if (keeper.equals(importer.name())) {
                  assertThat(released)
                      .as("layers %s released", importer.name())
                      .doesNotContain(digest);
                } else {
                  assertThat(released).as("layers %s released", importer.name()).contains(digest);
                }
                var fetcherReleased = storeStatus(fetcher).releasedLayers();
                assertThat(fetcherReleased == null ? List.<String>of() : fetcherReleased)
                    .doesNotContain(digest);
                var ns = namespaceStatus();
                assertThat(ns.savedBytes()).isEqualTo(ns.privateCopiesBytes() - ns.storedBytes());
                if (!keeper.equals(importer.name())) {
                  assertThat(ns.savedBytes()).isGreaterThanOrEqualTo(size);
                }
              });
    } finally {
      TestNodes.addNamespace(client, NS, POOL, 2, Transport.Copy);
    }
  }

  private io.layerns.api.v1alpha1.LayerStoreStatus storeStatus(String node) {
    var s = client.resources(io.layerns.api.v1alpha1.LayerStore.class).withName(node).get();
    assertThat(s.getStatus()).as("status of LayerStore " + node).isNotNull();
    return s.getStatus();
  }

  private io.layerns.api.v1alpha1.LayerNamespaceStatus namespaceStatus() {
    var s = client.resources(LayerNamespace.class).withName(NS).get().getStatus();
    assertThat(s).as("status of LayerNamespace " + NS).isNotNull();
    return s;
  }

  private long peerBytesOfAll() {
    long sum = 0;
    for (InProcessAgent n : nodes) {
      Long b = storeStatus(n.name()).fetchedFromPeersBytes();
      sum += b == null ? 0 : b;
    }
    return sum;
  }
}
