package io.layerns.csi.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.registry.Credentials;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.registry.TokenServer;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.TestNodeKeys;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mirror with real parts: two Debian {@code docker-registry} upstreams (one anonymous, one
 * behind a token service, whose images are private), a member peer on 127.0.1.1 serving its store
 * over the real HTTP export (TLS, member keys), and the mirror's node on 127.0.1.3 fetching from
 * it.
 */
class MirrorServerIT {
  private static final String USER = "alice";
  private static final String PASSWORD = "correct horse";

  @TempDir static Path shared;
  private static TokenServer tokens;
  private static RegistryServer publicRegistry;
  private static RegistryServer privateRegistry;

  @TempDir Path tmp;
  private final TestImage publicImage =
      TestImage.threeLayers("mirror-public", Platform.LINUX_AMD64);
  private final TestImage privateImage =
      TestImage.threeLayers("mirror-private", Platform.LINUX_AMD64);
  private final TestImage peerImage = TestImage.threeLayers("mirror-peer", Platform.LINUX_AMD64);
  private final KeyPair peerKey = TestNodeKeys.generate();
  private final KeyPair nodeKey = TestNodeKeys.generate();
  private final HttpClient http = HttpClient.newHttpClient();
  private final MovableClock clock = new MovableClock();
  private LocalLayerStore peerStore;
  private LocalLayerStore store;
  private HttpExportServer peerExport;
  private ImageImporter importer;
  private PeerFetcher peers;
  private NodeMetrics metrics;
  private MirrorServer mirror;

  @BeforeAll
  static void registries() throws Exception {
    assumeTrue(Files.isExecutable(RegistryServer.BINARY), "needs Debian's docker-registry");
    publicRegistry = RegistryServer.start(Files.createDirectories(shared.resolve("public")), null);
    tokens =
        TokenServer.start(Map.of(USER, PASSWORD), Files.createDirectories(shared.resolve("t")));
    privateRegistry =
        RegistryServer.start(Files.createDirectories(shared.resolve("private")), tokens);
  }

  @AfterAll
  static void stopRegistries() {
    for (AutoCloseable c : new AutoCloseable[] {publicRegistry, privateRegistry, tokens}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // going away anyway
      }
    }
  }

  @BeforeEach
  void nodes() throws Exception {
    new RegistryPusher(publicRegistry.url(), null).push("team/app", publicImage, "v1");
    new RegistryPusher(
            privateRegistry.url(), tokens.issue(USER, "repository:team/secret:pull,push"))
        .push("team/secret", privateImage, "v1");

    // The peer: a member node holding peerImage, exporting it to the mirror's node only.
    peerImage.writeLayout(tmp.resolve("layout"), "v1");
    peerStore = LocalLayerStore.open(tmp.resolve("peer"));
    new ImageImporter(peerStore, registryClient(), Platform.LINUX_AMD64)
        .importLayout(tmp.resolve("layout"), ImageReference.parse("origin.example/peer:v1"));
    peerExport =
        HttpExportServer.start(
            peerStore,
            new InetSocketAddress("127.0.1.1", 0),
            Set.of(InetAddress.getByName("127.0.1.3")),
            peerKey);

    // The mirror's node: pulled the public image and (with the secret) the private one.
    store = LocalLayerStore.open(tmp.resolve("node"));
    importer = new ImageImporter(store, registryClient(), Platform.LINUX_AMD64);
    importer.pull(ImageReference.parse(publicRegistry.host() + "/team/app:v1"), DockerConfig.EMPTY);
    importer.pull(
        ImageReference.parse(privateRegistry.host() + "/team/secret:v1"),
        DockerConfig.of(privateRegistry.host(), new Credentials(USER, PASSWORD)));
    peers = peerFetcher(importer, peerExport, peerKey, nodeKey);
    metrics = NodeMetrics.prometheus();
    mirror = start(Duration.ZERO);
  }

  private MirrorServer start(Duration tagMaxAge) throws IOException {
    if (mirror != null) {
      mirror.close();
    }
    MirrorServer m =
        MirrorServer.start(
            new MirrorServer.Settings(
                Optional.of(new InetSocketAddress("127.0.0.1", 0)), tagMaxAge, true),
            importer,
            peers,
            this::namespace,
            clock);
    m.recordTo(metrics);
    return m;
  }

  /** The mirror node's namespace: the peer, holding (and owning) peerImage's layers. */
  private NamespaceView namespace() {
    return peerHolding(peerExport, peerImage);
  }

  /** The node on 127.0.1.3's client of the peer's export, which pins the peer's key. */
  static PeerFetcher peerFetcher(
      ImageImporter importer, HttpExportServer peerExport, KeyPair peerKey, KeyPair nodeKey)
      throws IOException {
    return new PeerFetcher(
        importer,
        PeerFetcher.httpClient(
            InetAddress.getByName("127.0.1.3"),
            nodeKey,
            TestNodeKeys.published(Map.of(peerExport.baseUri(), peerKey))),
        Duration.ofSeconds(10));
  }

  /** A namespace of one member, whose export serves {@code image}'s layers as held and owned. */
  static NamespaceView peerHolding(HttpExportServer peerExport, TestImage image) {
    Set<String> held =
        image.layers().stream().map(l -> l.digest().toString()).collect(Collectors.toSet());
    return new NamespaceView(
        "ns",
        Transport.Copy,
        List.of(
            new NamespaceView.PeerStore(
                "peer",
                new StoreEndpoints(peerExport.baseUri().toString(), null, null, null),
                held,
                held)));
  }

  private static RegistryClient registryClient() {
    return new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8"));
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {mirror, peerExport, peerStore, store}) {
      if (c != null) {
        c.close();
      }
    }
  }

  // ---- public content and peers -------------------------------------------------------------

  @Test
  void servesPublicBlobsAndManifestsByDigestFromTheStoreWithoutCredentials() throws Exception {
    TestImage.Layer layer = publicImage.layers().getFirst();

    HttpResponse<byte[]> blob = get("team/app", "blobs/" + layer.digest(), publicRegistry, null);
    HttpResponse<byte[]> config =
        get("team/app", "blobs/" + publicImage.configDigest(), publicRegistry, null);
    HttpResponse<byte[]> manifest =
        get("team/app", "manifests/" + publicImage.manifestDigest(), publicRegistry, null);

    assertThat(blob.statusCode()).isEqualTo(200);
    assertThat(blob.body()).isEqualTo(layer.blob());
    assertThat(blob.headers().firstValue("Docker-Content-Digest"))
        .contains(layer.digest().toString());
    assertThat(config.body()).isEqualTo(publicImage.config());
    assertThat(manifest.statusCode()).isEqualTo(200);
    assertThat(manifest.body()).isEqualTo(publicImage.manifest());
    assertThat(manifest.headers().firstValue("Content-Type"))
        .contains(publicImage.manifestMediaType());
    HttpResponse<byte[]> head =
        send(
            request("team/app", "blobs/" + layer.digest(), publicRegistry, null)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()));
    assertThat(head.headers().firstValue("Content-Length"))
        .contains(Integer.toString(layer.blob().length));
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(metrics.scrape())
                    .contains("layerns_node_mirror_requests_total{source=\"local\"} 4.0")
                    .contains(
                        "layerns_node_mirror_served_bytes_total{source=\"local\"} "
                            + (double)
                                (layer.blob().length
                                    + publicImage.config().length
                                    + publicImage.manifest().length)));
  }

  @Test
  void fetchesABlobTheNodeLacksFromAMemberPeerVerifiedAndKeepsItAsAHeldLayer() throws Exception {
    TestImage.Layer layer = peerImage.layers().get(1);
    assertThat(store.hasBlob(layer.digest())).isFalse();
    // The plugin's node agent listens here: told only once the layer is held, so its pass reports
    // it in the LayerStore status (without this the kept copy stayed unreported: issue 19).
    List<Boolean> heldWhenTold = new java.util.concurrent.CopyOnWriteArrayList<>();
    mirror.onKept(() -> heldWhenTold.add(store.hasLayer(layer.digest())));

    HttpResponse<byte[]> blob = get("team/peer", "blobs/" + layer.digest(), publicRegistry, null);

    assertThat(blob.statusCode()).isEqualTo(200);
    assertThat(blob.body()).isEqualTo(layer.blob());
    // Kept: unpacked into a held layer, and the agent told to report it.
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> store.listLayers().stream().anyMatch(l -> l.digest().equals(layer.digest())));
    await().atMost(Duration.ofSeconds(10)).until(() -> !heldWhenTold.isEmpty());
    assertThat(heldWhenTold).containsExactly(true);
    assertThat(
            store.layer(layer.digest()).orElseThrow().directory().resolve("usr/share/doc/readme"))
        .hasContent("zstd layer of mirror-peer\n");
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(metrics.scrape())
                    .contains("layerns_node_mirror_requests_total{source=\"peer\"} 1.0")
                    .contains(
                        "layerns_node_mirror_served_bytes_total{source=\"peer\"} "
                            + (double) layer.blob().length));
    // Its manifest and config, which peers do not report, come from the peer too.
    HttpResponse<byte[]> manifest =
        get("team/peer", "manifests/" + peerImage.manifestDigest(), publicRegistry, null);
    assertThat(manifest.statusCode()).isEqualTo(200);
    assertThat(manifest.body()).isEqualTo(peerImage.manifest());
    assertThat(get("team/peer", "blobs/" + peerImage.configDigest(), publicRegistry, null).body())
        .isEqualTo(peerImage.config());
  }

  @Test
  void refusesAPeersBlobWhoseBytesDoNotMatchItsDigestAndKeepsNothing() throws Exception {
    // The uncompressed layer: a flipped content byte still parses, so only the digest catches it.
    TestImage.Layer layer = peerImage.layers().get(2);
    flipByte(peerStore.blob(layer.digest()).orElseThrow(), 600);

    HttpResponse<byte[]> blob = get("team/peer", "blobs/" + layer.digest(), publicRegistry, null);

    assertThat(blob.statusCode()).isEqualTo(404);
    assertThat(new String(blob.body(), StandardCharsets.UTF_8)).contains("BLOB_UNKNOWN");
    assertThat(store.hasBlob(layer.digest())).isFalse();
    assertThat(store.hasLayer(layer.digest())).isFalse();
    try (Stream<Path> left = Files.list(store.root().resolve("tmp"))) {
      assertThat(left).isEmpty();
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(metrics.scrape())
                    .contains("layerns_node_mirror_requests_total{source=\"not_found\"} 1.0")
                    .contains("layerns_node_mirror_requests_total{source=\"peer\"} 0.0"));
  }

  @Test
  void answers404ForWhatNeitherTheNodeNorAPeerHolds() throws Exception {
    Digest unknown = Digest.of("nobody has this".getBytes(StandardCharsets.UTF_8));

    assertThat(get("team/app", "blobs/" + unknown, publicRegistry, null).statusCode())
        .isEqualTo(404);
    HttpResponse<byte[]> manifest = get("team/app", "manifests/" + unknown, publicRegistry, null);
    assertThat(manifest.statusCode()).isEqualTo(404);
    assertThat(new String(manifest.body(), StandardCharsets.UTF_8)).contains("MANIFEST_UNKNOWN");
  }

  // ---- tags ---------------------------------------------------------------------------------

  @Test
  void answersNoTagByDefaultEvenOneThisNodePulled() throws Exception {
    // The node pulled team/app:v1 by tag and records it; the mirror still sends containerd
    // upstream.
    assertThat(importer.refs().lookup(ImageReference.parse(publicRegistry.host() + "/team/app:v1")))
        .contains(publicImage.manifestDigest());

    HttpResponse<byte[]> tag = get("team/app", "manifests/v1", publicRegistry, null);

    assertThat(tag.statusCode()).isEqualTo(404);
    assertThat(new String(tag.body(), StandardCharsets.UTF_8)).contains("MANIFEST_UNKNOWN");
  }

  @Test
  void answersATagThisNodeResolvedUpstreamWithinTheWindowAndNoLonger() throws Exception {
    mirror = start(Duration.ofSeconds(60));

    HttpResponse<byte[]> tag = get("team/app", "manifests/v1", publicRegistry, null);

    assertThat(tag.statusCode()).isEqualTo(200);
    assertThat(tag.body()).isEqualTo(publicImage.manifest());
    assertThat(tag.headers().firstValue("Docker-Content-Digest"))
        .contains(publicImage.manifestDigest().toString());
    // A tag the node never resolved with that registry (the peer's image) is not answered.
    assertThat(get("team/peer", "manifests/v1", publicRegistry, null).statusCode()).isEqualTo(404);
    // Nor is the same tag under another upstream.
    assertThat(get("team/app", "manifests/v1", privateRegistry, null).statusCode()).isEqualTo(404);
    // Past the window the tag goes upstream again.
    clock.advance(Duration.ofSeconds(61));
    assertThat(get("team/app", "manifests/v1", publicRegistry, null).statusCode()).isEqualTo(404);
  }

  // ---- private images -----------------------------------------------------------------------

  @Test
  void challengesARequestForPrivateContentThatShowsNoCredentials() throws Exception {
    for (String path :
        List.of(
            "manifests/" + privateImage.manifestDigest(),
            "blobs/" + privateImage.configDigest(),
            "blobs/" + privateImage.layers().getFirst().digest())) {
      HttpResponse<byte[]> r = get("team/secret", path, privateRegistry, null);

      assertThat(r.statusCode()).as(path).isEqualTo(401);
      assertThat(r.headers().firstValue("WWW-Authenticate"))
          .as(path)
          .hasValueSatisfying(v -> assertThat(v).startsWith("Basic realm="));
      assertThat(r.body()).as(path).isNotEqualTo(privateImage.config());
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(metrics.scrape())
                    .contains("layerns_node_mirror_requests_total{source=\"unauthorized\"} 3.0"));
  }

  @Test
  void refusesPrivateContentToCredentialsTheRegistryRejects() throws Exception {
    for (String path :
        List.of(
            "manifests/" + privateImage.manifestDigest(),
            "blobs/" + privateImage.layers().get(1).digest())) {
      HttpResponse<byte[]> r = get("team/secret", path, privateRegistry, basic(USER, "wrong"));

      assertThat(r.statusCode()).as(path).isEqualTo(401);
    }
    // Right user, but presented for another upstream: the credentials count for that one only.
    assertThat(
            get(
                    "team/secret",
                    "blobs/" + privateImage.configDigest(),
                    publicRegistry,
                    basic(USER, PASSWORD))
                .statusCode())
        .isEqualTo(401);
  }

  @Test
  void servesPrivateContentToCredentialsTheRegistryAccepts() throws Exception {
    String right = basic(USER, PASSWORD);

    HttpResponse<byte[]> manifest =
        get("team/secret", "manifests/" + privateImage.manifestDigest(), privateRegistry, right);
    HttpResponse<byte[]> config =
        get("team/secret", "blobs/" + privateImage.configDigest(), privateRegistry, right);
    HttpResponse<byte[]> layer =
        get(
            "team/secret",
            "blobs/" + privateImage.layers().get(2).digest(),
            privateRegistry,
            right);

    assertThat(manifest.statusCode()).isEqualTo(200);
    assertThat(manifest.body()).isEqualTo(privateImage.manifest());
    assertThat(config.body()).isEqualTo(privateImage.config());
    assertThat(layer.body()).isEqualTo(privateImage.layers().get(2).blob());
  }

  // ---- helpers ------------------------------------------------------------------------------

  private HttpResponse<byte[]> get(
      String repository, String tail, RegistryServer upstream, String authorization)
      throws Exception {
    return send(request(repository, tail, upstream, authorization).GET());
  }

  private HttpRequest.Builder request(
      String repository, String tail, RegistryServer upstream, String authorization) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(
                URI.create(
                    mirror.baseUri() + "/v2/" + repository + "/" + tail + "?ns=" + upstream.host()))
            .version(HttpClient.Version.HTTP_1_1);
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return b;
  }

  private HttpResponse<byte[]> send(HttpRequest.Builder b) throws Exception {
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private static String basic(String user, String password) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  private static void flipByte(Path file, long offset) throws IOException {
    io.layerns.csi.store.Corruption.flipByte(file, offset);
  }

  /** The system clock, moved forward by the test. */
  private static final class MovableClock extends Clock {
    private volatile Duration offset = Duration.ZERO;

    void advance(Duration d) {
      offset = offset.plus(d);
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return Instant.now().plus(offset);
    }
  }
}
