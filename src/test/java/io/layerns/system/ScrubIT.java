package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.events.EventRecorder;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.Scrubber;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 23 end to end, on the real control plane with the operator and two node agents: the copy
 * that dedup is about to keep rots silently while the other waits out its grace; before the other
 * copy may go, the keeper is asked to verify its copy, finds the rot, takes the copy out and says
 * so; the other copy stays and becomes the one kept. At no moment is there no good copy.
 */
@WithControlPlane
class ScrubIT {
  private static final String NS = "scrub";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  @Test
  void dedupKeepsTheGoodCopyWhenTheOneItWouldKeepHasRotted(ControlPlane cp, @TempDir Path dir)
      throws Exception {
    KubernetesClient client = cp.client();
    List<InProcessAgent> nodes = new ArrayList<>();
    try (LayernsOperator operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("scrub-it"), Clock.systemUTC())) {
      operator.start();
      for (int i = 1; i <= 2; i++) {
        String name = "scrub-" + i;
        TestNodes.addReadyNode(client, name, POOL);
        InProcessAgent n = InProcessAgent.start(cp, name, "127.0.1." + (40 + i), dir.resolve(name));
        // A period of an hour: only a request can find the rot within this test.
        n.agent()
            .scrub(
                new Scrubber.Settings(64L << 20, Duration.ofHours(1)),
                new EventRecorder(
                    cp.newAdminClient(), Clock.systemUTC(), EventRecorder.NODE_PLUGIN, name));
        nodes.add(n);
      }
      namespace(client, 2, 20);
      TestLayers layer = TestLayers.of(Map.of("etc/greeting", "hello, kept intact\n"), 1 << 20, 23);
      nodes
          .getFirst()
          .store()
          .importLayer(
              layer.digest(),
              layer.diffId(),
              TestLayers.GZIP,
              new ByteArrayInputStream(layer.blob()));
      nodes.getFirst().agent().trigger();
      String name = CrdConstants.layerName(layer.digest().toString());
      await("two Present copies, each with its verification time")
          .atMost(Duration.ofSeconds(90))
          .until(
              () ->
                  nodes.stream()
                      .allMatch(n -> held(client, n.name(), layer.digest().toString()) != null));

      AtomicBoolean noGoodCopy = new AtomicBoolean();
      AtomicBoolean rotFound = new AtomicBoolean();
      // Samples the disks every 20 ms for the whole scenario: a moment with no good copy fails.
      var watch = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
      watch.scheduleAtFixedRate(
          () -> {
            boolean any =
                nodes.stream()
                    .anyMatch(
                        n ->
                            n.store().hasLayer(layer.digest())
                                && (!n.name().equals(rottenNode[0]) || rotFound.get()));
            if (!any) {
              noGoodCopy.set(true);
            }
          },
          0,
          20,
          java.util.concurrent.TimeUnit.MILLISECONDS);
      try {
        namespace(client, 1, 20);
        await("one owner, the other copy in its grace period")
            .atMost(Duration.ofSeconds(60))
            .until(() -> owners(client, name).size() == 1);
        String keeper = owners(client, name).getFirst();
        InProcessAgent kept =
            nodes.stream().filter(n -> n.name().equals(keeper)).findFirst().orElseThrow();
        String other =
            nodes.stream()
                .map(InProcessAgent::name)
                .filter(n -> !n.equals(keeper))
                .findFirst()
                .orElseThrow();
        flipAByte(
            kept.store().layer(layer.digest()).orElseThrow().directory().resolve("etc/greeting"));
        rottenNode[0] = keeper;

        await(keeper + " finds the rot when asked to verify before " + other + "'s copy may go")
            .atMost(Duration.ofSeconds(120))
            .pollInterval(Duration.ofMillis(300))
            .until(
                () ->
                    client.events().v1().events().inAnyNamespace().list().getItems().stream()
                        .anyMatch(
                            e ->
                                NodeAgent.CORRUPT_COPY.equals(e.getReason())
                                    && e.getNote().contains(layer.digest().toString())
                                    && e.getNote().contains("etc/greeting")
                                    && e.getRegarding().getName().equals(keeper)));
        rotFound.set(true);
        assertThat(kept.store().hasLayer(layer.digest()) && !refetched(kept, layer))
            .as("the rotten copy is out of " + keeper + "'s store")
            .isFalse();
        await("one owner holding a good copy, and no other copy left")
            .atMost(Duration.ofSeconds(120))
            .pollInterval(Duration.ofMillis(300))
            .untilAsserted(
                () -> {
                  List<String> owners = owners(client, name);
                  assertThat(owners).hasSize(1);
                  for (InProcessAgent n : nodes) {
                    boolean owner = owners.contains(n.name());
                    assertThat(n.store().hasLayer(layer.digest())).isEqualTo(owner);
                    if (owner) {
                      assertThat(
                              n.store()
                                  .verify(
                                      layer.digest(), io.layerns.csi.store.TreeManifest.Pacer.NONE))
                          .isEmpty();
                      assertThat(
                              Files.readString(
                                  n.store()
                                      .layer(layer.digest())
                                      .orElseThrow()
                                      .directory()
                                      .resolve("etc/greeting")))
                          .isEqualTo("hello, kept intact\n");
                    }
                  }
                });
        assertThat(noGoodCopy).as("a moment with no good copy of the layer").isFalse();
      } finally {
        watch.shutdownNow();
      }
    } finally {
      for (InProcessAgent n : nodes) {
        n.close();
      }
    }
  }

  private final String[] rottenNode = {""};

  /** Whether the node's copy is a good one fetched after the rotten one went. */
  private static boolean refetched(InProcessAgent n, TestLayers layer) throws Exception {
    return n.store().verify(layer.digest(), io.layerns.csi.store.TreeManifest.Pacer.NONE).isEmpty();
  }

  private static HeldLayer held(KubernetesClient client, String node, String digest) {
    LayerStore s = client.resources(LayerStore.class).withName(node).get();
    if (s == null || s.getStatus() == null || s.getStatus().layers() == null) {
      return null;
    }
    return s.getStatus().layers().stream()
        .filter(h -> h.digest().equals(digest) && h.state() == CopyState.Present)
        .filter(h -> h.lastVerified() != null)
        .findFirst()
        .orElse(null);
  }

  private static List<String> owners(KubernetesClient client, String layerName) {
    Layer l = client.resources(Layer.class).withName(layerName).get();
    return l == null || l.getStatus() == null || l.getStatus().owners() == null
        ? List.of()
        : l.getStatus().owners();
  }

  private static void namespace(KubernetesClient client, int replicas, int graceSeconds) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NS).build());
    ns.setSpec(
        new LayerNamespaceSpec(POOL, replicas, Transport.Copy, graceSeconds, 300, null, null));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  private static void flipAByte(Path file) throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      int b = f.read();
      f.seek(0);
      f.write(b ^ 0x20);
    }
  }
}
