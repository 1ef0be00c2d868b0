package io.layerns.csi.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.identity.PeerKeys;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes on 127.0.1.1-3: two hold an image and export it over HTTP, the third fetches from
 * them, and from a real registry when they fail.
 */
class PeerFetchIT {
  @TempDir Path tmp;
  private final TestImage image = TestImage.threeLayers("peer", Platform.LINUX_AMD64);
  private LocalLayerStore storeA;
  private LocalLayerStore storeB;
  private LocalLayerStore storeC;
  private HttpExportServer exportA;
  private HttpExportServer exportB;
  private PeerFetcher fetcher;
  private final KeyPair keyA = TestNodeKeys.generate();
  private final KeyPair keyB = TestNodeKeys.generate();
  private final KeyPair keyC = TestNodeKeys.generate();
  private PeerKeys pins;
  private ImageImporter importerC;

  @BeforeEach
  void nodes() throws Exception {
    image.writeLayout(tmp.resolve("layout"), "v1");
    storeA = holder("a");
    storeB = holder("b");
    Set<InetAddress> members = Set.of(InetAddress.getByName("127.0.1.3"));
    exportA = HttpExportServer.start(storeA, new InetSocketAddress("127.0.1.1", 0), members, keyA);
    exportB = HttpExportServer.start(storeB, new InetSocketAddress("127.0.1.2", 0), members, keyB);
    pins = TestNodeKeys.published(Map.of(exportA.baseUri(), keyA, exportB.baseUri(), keyB));
    storeC = LocalLayerStore.open(tmp.resolve("c"));
    importerC =
        new ImageImporter(
            storeC,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    fetcher =
        new PeerFetcher(
            importerC,
            PeerFetcher.httpClient(InetAddress.getByName("127.0.1.3"), keyC, pins),
            Duration.ofSeconds(10));
  }

  private LocalLayerStore holder(String name) throws IOException {
    LocalLayerStore store = LocalLayerStore.open(tmp.resolve(name));
    new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(tmp.resolve("layout"), ImageReference.parse("origin.example/app:v1"));
    return store;
  }

  @AfterEach
  void stop() throws IOException {
    for (AutoCloseable c : new AutoCloseable[] {exportA, exportB, storeA, storeB, storeC}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new IOException(e);
      }
    }
  }

  private List<URI> peers() {
    return List.of(exportA.baseUri(), exportB.baseUri());
  }

  @Test
  void fetchesAVerifiedLayerFromAHealthyPeer() throws IOException {
    TestImage.Layer layer = image.layers().get(1);

    StoredLayer stored =
        fetcher.fetchLayer(
            layer.digest(), layer.diffId(), null, List.of(exportA.baseUri()), List.of());

    assertThat(stored.diffId()).isEqualTo(layer.diffId());
    assertThat(stored.directory().resolve("usr/share/doc/readme"))
        .hasContent("zstd layer of peer\n");
    assertThat(storeC.blob(layer.digest()).orElseThrow()).hasBinaryContent(layer.blob());
  }

  @Test
  void skipsAPeerServingCorruptBytesAndNeverShowsThem() throws IOException {
    TestImage.Layer layer = image.layers().getFirst();
    // Peer A's copy rots on disk: its export now serves bytes that do not match the digest.
    flipByte(storeA.blob(layer.digest()).orElseThrow(), 20);

    assertThatThrownBy(
            () ->
                fetcher.fetchLayer(
                    layer.digest(), layer.diffId(), null, List.of(exportA.baseUri()), List.of()))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.CORRUPT))
        .hasMessageContaining("peer " + exportA.baseUri());
    assertThat(storeC.hasBlob(layer.digest())).isFalse();
    assertThat(storeC.hasLayer(layer.digest())).isFalse();
    assertTmpEmpty(storeC);

    StoredLayer stored =
        fetcher.fetchLayer(layer.digest(), layer.diffId(), null, peers(), List.of());

    assertThat(stored.directory().resolve("etc/os-release")).hasContent("ID=test-peer\n");
    assertThat(storeC.blob(layer.digest()).orElseThrow()).hasBinaryContent(layer.blob());
  }

  @Test
  void fallsBackToTheRegistryWhenEveryPeerIsDown() throws Exception {
    assumeTrue(Files.isExecutable(RegistryServer.BINARY), "needs Debian's docker-registry");
    List<URI> downPeers = peers();
    exportA.close();
    exportB.close();
    try (RegistryServer registry = RegistryServer.start(tmp.resolve("registry"), null)) {
      new RegistryPusher(registry.url(), null).push("team/app", image, "v1");
      ImageReference ref = ImageReference.parse(registry.host() + "/team/app:v1");
      List<ContentSource> fallback =
          List.of(importerC.registryClient().repository(ref, DockerConfig.EMPTY));
      TestImage.Layer layer = image.layers().get(2);

      StoredLayer stored =
          fetcher.fetchLayer(layer.digest(), layer.diffId(), null, downPeers, fallback);

      assertThat(stored.directory().resolve("app/amd64")).hasContent("arch peer");
      // The whole image by tag: the tag comes from the registry, the rest from the registry too.
      PulledImage pulled = fetcher.fetchImage(ref, downPeers, fallback);
      assertThat(pulled.manifestDigest()).isEqualTo(image.manifestDigest());
      assertThat(storeC.listLayers()).hasSize(3);
    }
  }

  @Test
  void whenEverySourceFailsTheErrorListsWhatWasTriedAndWhy() throws Exception {
    // The uncompressed layer: a flipped content byte still parses, so only the digest catches it.
    TestImage.Layer layer = image.layers().get(2);
    flipByte(storeA.blob(layer.digest()).orElseThrow(), 1024);
    storeB.deleteBlob(layer.digest());
    URI down = URI.create("http://127.0.1.4:1");
    ContentSource registry =
        importerC
            .registryClient()
            .repository(ImageReference.parse("127.0.0.1:1/team/app:v1"), DockerConfig.EMPTY);

    assertThatThrownBy(
            () ->
                fetcher.fetchLayer(
                    layer.digest(),
                    layer.diffId(),
                    null,
                    List.of(exportA.baseUri(), exportB.baseUri(), down),
                    List.of(registry)))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e ->
                assertThat(e.attempts())
                    .extracting(FetchFailedException.Attempt::source, a -> a.reason())
                    .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(
                            "peer " + exportA.baseUri(), Reason.CORRUPT),
                        org.assertj.core.groups.Tuple.tuple(
                            "peer " + exportB.baseUri(), Reason.NOT_FOUND),
                        org.assertj.core.groups.Tuple.tuple("peer " + down, Reason.UNAVAILABLE),
                        org.assertj.core.groups.Tuple.tuple(
                            "registry 127.0.0.1:1/team/app", Reason.UNAVAILABLE)))
        .hasMessageContaining("the blob's content has digest")
        .hasMessageContaining("not held there")
        .hasMessageContaining("could not be reached");
    assertThat(storeC.hasLayer(layer.digest())).isFalse();
  }

  @Test
  void resolvesAnImagePinnedByDigestFromPeersWithoutTheRegistry() throws IOException {
    // The registry named in the reference does not exist: only peers can serve the image.
    ImageReference pinned = ImageReference.parse("127.0.0.1:1/team/app@" + image.manifestDigest());
    ContentSource deadRegistry = importerC.registryClient().repository(pinned, DockerConfig.EMPTY);

    PulledImage pulled = fetcher.fetchImage(pinned, peers(), List.of(deadRegistry));

    assertThat(pulled.manifestDigest()).isEqualTo(image.manifestDigest());
    assertThat(pulled.configDigest()).isEqualTo(image.configDigest());
    assertThat(storeC.readBlob(image.manifestDigest(), 1 << 20)).isEqualTo(image.manifest());
    for (TestImage.Layer l : image.layers()) {
      for (Map.Entry<String, String> f : l.files().entrySet()) {
        assertThat(storeC.layer(l.digest()).orElseThrow().directory().resolve(f.getKey()))
            .hasContent(f.getValue());
      }
    }
    // A tag is not taken from peers: with the registry gone it cannot be resolved.
    assertThatThrownBy(
            () ->
                fetcher.fetchImage(
                    ImageReference.parse("127.0.0.1:1/team/app:v1"),
                    peers(),
                    List.of(deadRegistry)))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.UNAVAILABLE));
  }

  @Test
  void aNodeNotOnThePeersAllowListIsRefused() throws Exception {
    PeerFetcher stranger =
        new PeerFetcher(
            importerC,
            PeerFetcher.httpClient(InetAddress.getByName("127.0.1.9"), keyC, pins),
            Duration.ofSeconds(10));
    TestImage.Layer layer = image.layers().getFirst();

    assertThatThrownBy(
            () ->
                stranger.fetchLayer(
                    layer.digest(), null, null, List.of(exportA.baseUri()), List.of()))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e -> assertThat(e.reason()).isEqualTo(Reason.AUTHENTICATION_FAILED))
        .hasMessageContaining("not on its allow-list");
  }

  private static void flipByte(Path file, long offset) throws IOException {
    io.layerns.csi.store.Corruption.flipByte(file, offset);
  }

  private static void assertTmpEmpty(LocalLayerStore store) throws IOException {
    try (Stream<Path> litter = Files.list(store.root().resolve("tmp"))) {
      assertThat(litter).isEmpty();
    }
  }
}
