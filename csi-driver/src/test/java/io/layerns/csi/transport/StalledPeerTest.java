package io.layerns.csi.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer that sends half a layer and then nothing, over real HTTPS as peers' exports speak it: the
 * fetch gives up after the stall timeout with an error naming the peer, and takes the layer from
 * the next source; nothing of the stalled body is left in the store.
 */
class StalledPeerTest {
  private static final Duration STALL = Duration.ofSeconds(1);
  private static final KeyPair PEER_KEY = TestNodeKeys.generate();

  @TempDir Path tmp;
  private final TestImage image = TestImage.threeLayers("v1", Platform.LINUX_AMD64);
  private final TestImage.Layer layer = image.layers().getFirst();
  private final CountDownLatch release = new CountDownLatch(1);
  private HttpServer stalling;
  private HttpServer healthy;
  private LocalLayerStore store;
  private ImageImporter importer;
  private PeerFetcher peers;

  @BeforeEach
  void start() throws IOException {
    stalling =
        serve(
            exchange -> {
              exchange.sendResponseHeaders(200, layer.blob().length);
              OutputStream out = exchange.getResponseBody();
              out.write(layer.blob(), 0, layer.blob().length / 2);
              out.flush();
              try {
                release.await(60, TimeUnit.SECONDS); // and never the rest
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              exchange.close();
            });
    healthy =
        serve(
            exchange -> {
              exchange.sendResponseHeaders(200, layer.blob().length);
              try (OutputStream out = exchange.getResponseBody()) {
                out.write(layer.blob());
              }
            });
    store = LocalLayerStore.open(tmp.resolve("store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64,
            STALL);
    peers =
        new PeerFetcher(
            importer,
            PeerFetcher.httpClient(
                InetAddress.getLoopbackAddress(),
                TestNodeKeys.generate(),
                (host, port) -> Optional.of(PEER_KEY.getPublic())),
            Duration.ofSeconds(10));
  }

  @AfterEach
  void stop() throws IOException {
    release.countDown();
    stalling.stop(0);
    healthy.stop(0);
    store.close();
  }

  @Test
  void aPeerThatStopsSendingIsGivenUpAndTheNextSourceServesTheLayer() throws IOException {
    List<ContentSource> sources = peers.sources(List.of(uri(stalling), uri(healthy)), List.of());
    long start = System.nanoTime();

    var stored = importer.fetchLayer(layer.digest(), layer.diffId(), null, -1, sources);

    long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(stored.digest()).isEqualTo(layer.digest());
    assertThat(took).isGreaterThanOrEqualTo(STALL.toMillis()).isLessThan(30_000);
    assertThat(tmpFiles()).isEmpty();
  }

  @Test
  void withOnlyTheStalledPeerTheFetchFailsNamingItAndLeavesNothing() throws IOException {
    List<ContentSource> sources = peers.sources(List.of(uri(stalling)), List.of());

    assertThatThrownBy(() -> importer.fetchLayer(layer.digest(), layer.diffId(), null, -1, sources))
        .isInstanceOf(FetchFailedException.class)
        .hasMessageContaining("peer " + uri(stalling))
        .hasMessageContaining("sent nothing for 1s in the middle of blob " + layer.digest());
    assertThat(store.layer(layer.digest())).isEmpty();
    assertThat(store.hasBlob(layer.digest())).isFalse();
    assertThat(tmpFiles()).isEmpty();
  }

  private List<Path> tmpFiles() throws IOException {
    try (var files = Files.list(store.root().resolve("tmp"))) {
      return files.toList();
    }
  }

  private static HttpServer serve(com.sun.net.httpserver.HttpHandler blobs) throws IOException {
    HttpsServer s =
        HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    s.setHttpsConfigurator(new HttpsConfigurator(NodeTls.server(PEER_KEY)));
    s.createContext("/v2/", blobs);
    s.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
    s.start();
    return s;
  }

  private static URI uri(HttpServer s) {
    return URI.create("https://127.0.0.1:" + s.getAddress().getPort());
  }
}
