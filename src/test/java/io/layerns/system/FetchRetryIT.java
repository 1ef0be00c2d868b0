package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node agent whose assigned layer and preload image can come only from a registry that answers
 * 503 tries each again after its delay, as its events say, not at once. Found by ChaosIT (seed
 * 8824192977769914264, step 51): with the registry away, an agent asked it for a lost layer up to
 * 69 times a second and a new node for a preload over 2,000 times in a few seconds, and the layer
 * looked Fetching all along.
 */
@WithControlPlane
class FetchRetryIT {
  private static final String NODE = "retry-1";

  @Test
  void aFailedFetchAndAFailedPreloadWaitTheirDelayBeforeTheNextAttempt(
      ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    AtomicInteger blobRequests = new AtomicInteger();
    AtomicInteger manifestRequests = new AtomicInteger();
    HttpServer registry =
        HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
    registry.createContext(
        "/",
        exchange -> {
          String path = exchange.getRequestURI().getPath();
          if (path.contains("/blobs/")) {
            blobRequests.incrementAndGet();
          } else if (path.contains("/manifests/")) {
            manifestRequests.incrementAndGet();
          }
          exchange.sendResponseHeaders(503, -1);
          exchange.close();
        });
    registry.start();
    String repository = "127.0.0.1:" + registry.getAddress().getPort() + "/retry/app";
    String digest = "sha256:" + "ab".repeat(32);
    TestNodes.addReadyNode(client, NODE, Map.of());
    try (InProcessAgent agent = InProcessAgent.start(cp, NODE, "127.0.1.61", dir.resolve(NODE))) {
      LayerStore store = new LayerStore();
      store.setMetadata(new ObjectMetaBuilder().withName(NODE).build());
      store.setSpec(
          new LayerStoreSpec(
              NODE,
              "retry",
              Transport.Copy,
              30,
              List.of(
                  new AssignedLayer(
                      digest,
                      1000L,
                      TestLayers.GZIP,
                      List.of(),
                      List.of(repository),
                      "Owner",
                      null)),
              List.of(),
              List.of(repository + "@sha256:" + "cd".repeat(32))));
      client.resource(store).create();

      await("the first fetch reported Failed, and the first preload tried")
          .atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofMillis(100))
          .until(() -> reportsFailed(client, digest) && manifestRequests.get() >= 1);
      int blobs = blobRequests.get();
      int manifests = manifestRequests.get();

      await("no attempt while the delays run")
          .during(Duration.ofSeconds(5))
          .atMost(Duration.ofSeconds(6))
          .pollInterval(Duration.ofMillis(50))
          .untilAsserted(
              () -> {
                assertThat(blobRequests.get())
                    .as("layer fetches from the registry")
                    .isEqualTo(blobs);
                assertThat(manifestRequests.get())
                    .as("preload attempts (manifest requests)")
                    .isEqualTo(manifests);
                assertThat(reportsFailed(client, digest)).as("the layer reported Failed").isTrue();
              });
      await("the fetch tried again after its delay")
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(100))
          .until(() -> blobRequests.get() > blobs);
      assertThat(manifestRequests.get())
          .as("preload attempts within its 30 s delay")
          .isEqualTo(manifests);
    } finally {
      registry.stop(0);
      client.resources(LayerStore.class).withName(NODE).delete();
    }
  }

  /** Whether the node reports the layer Failed (and not Fetching). */
  private static boolean reportsFailed(KubernetesClient client, String digest) {
    LayerStore s = client.resources(LayerStore.class).withName(NODE).get();
    return s != null
        && s.getStatus() != null
        && s.getStatus().layers() != null
        && s.getStatus().layers().stream()
            .anyMatch(h -> h.digest().equals(digest) && h.state() == CopyState.Failed);
  }
}
