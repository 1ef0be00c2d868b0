package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real node plugin process, killed with SIGKILL in the middle of fetching a layer from a slow
 * peer: its store shows nothing half-written, and after a restart the fetch starts again and the
 * verified layer arrives.
 */
@WithControlPlane
class AgentCrashIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "crash");

  @Test
  void killedMidFetchLeavesNothingHalfWrittenAndResumesAfterRestart(
      ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    TestNodes.addReadyNode(client, "crash-1", POOL, "127.0.1.1");
    TestNodes.addReadyNode(client, "crash-2", POOL, "127.0.1.2");
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "survives a crash\n"), 12 << 20, 11);
    String digest = layer.digest().toString();
    Path store2 = dir.resolve("store-2");

    try (var operator =
            new LayernsOperator(
                cp.newAdminClient(), OperatorConfig.embedded("crash-it"), Clock.systemUTC());
        var holder =
            InProcessAgent.start(
                cp, "crash-1", "127.0.1.1", dir.resolve("store-1"), this::throughSlowLink)) {
      operator.start();
      holder
          .store()
          .importLayer(
              layer.digest(),
              layer.diffId(),
              TestLayers.GZIP,
              new ByteArrayInputStream(layer.blob()));
      TestNodes.addNamespace(client, "crash", POOL, 2, Transport.Copy);

      ManagedProcess plugin = startPlugin(cp, dir, store2);
      await("crash-2 fetching " + digest)
          .atMost(Duration.ofSeconds(60))
          .until(() -> stateOn(client, "crash-2", digest) == CopyState.Fetching);
      plugin.kill(); // SIGKILL, mid-transfer: the slow link needs several seconds for 12 MiB
      assertThat(plugin.isAlive()).isFalse();
      assertThat(store2.resolve("layers/sha256").resolve(layer.digest().hex()))
          .as("no half-written layer")
          .doesNotExist();
      assertThat(store2.resolve("blobs/sha256").resolve(layer.digest().hex()))
          .as("no half-written blob")
          .doesNotExist();

      ManagedProcess restarted = startPlugin(cp, dir, store2);
      try {
        await("crash-2 holds " + digest + " after the restart")
            .atMost(Duration.ofSeconds(90))
            .until(() -> stateOn(client, "crash-2", digest) == CopyState.Present);
        Path diff = store2.resolve("layers/sha256").resolve(layer.digest().hex()).resolve("diff");
        assertThat(Files.readString(diff.resolve("etc/motd"))).isEqualTo("survives a crash\n");
        assertThat(
                Files.mismatch(
                    diff.resolve("blob"),
                    holder.store().layer(layer.digest()).orElseThrow().directory().resolve("blob")))
            .isEqualTo(-1L);
        try (Stream<Path> litter = Files.list(store2.resolve("tmp"))) {
          assertThat(litter).as("temp space cleaned after the restart").isEmpty();
        }
        Layer l = client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
        assertThat(l.getStatus().copies()).isEqualTo(2);
      } finally {
        restarted.close();
      }
    }
  }

  /** crash-1 advertises its export through a 2 MiB/s link, so a fetch from it takes a while. */
  private URI throughSlowLink(URI export) {
    try {
      var proxy =
          new ThrottledProxy(
              new InetSocketAddress("127.0.1.1", 0),
              new InetSocketAddress(export.getHost(), export.getPort()),
              2L << 20);
      return URI.create("https://127.0.1.1:" + proxy.port());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static CopyState stateOn(KubernetesClient client, String node, String digest) {
    LayerStore store = client.resources(LayerStore.class).withName(node).get();
    if (store == null || store.getStatus() == null || store.getStatus().layers() == null) {
      return null;
    }
    return store.getStatus().layers().stream()
        .filter(l -> digest.equals(l.digest()))
        .map(HeldLayer::state)
        .findFirst()
        .orElse(null);
  }

  private static ManagedProcess startPlugin(ControlPlane cp, Path dir, Path store)
      throws Exception {
    return PluginProcess.start(cp, "crash-2", "127.0.1.2", dir, store);
  }
}
