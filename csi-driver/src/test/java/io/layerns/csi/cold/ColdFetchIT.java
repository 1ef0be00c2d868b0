package io.layerns.csi.cold;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.TestNodeKeys;
import io.layerns.testing.S3Server;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent's fetch path with the cold tier, on real parts: a real S3 server, a peer's real
 * HTTP export (127.0.1.1), the fetching node's store (127.0.1.3), and a registry that is not there
 * (a closed port). Order: peers, then the bucket, then the registry; what the bucket serves is
 * verified, and where a layer came from is said and counted.
 */
class ColdFetchIT {
  private static final String BUCKET = "cold";
  private static S3Server server;

  @TempDir Path tmp;
  private final TestImage image = TestImage.threeLayers("cold", Platform.LINUX_AMD64);
  private final KeyPair keyA = TestNodeKeys.generate();
  private final KeyPair keyC = TestNodeKeys.generate();
  private LocalLayerStore storeA;
  private HttpExportServer exportA;
  private LocalLayerStore storeC;
  private PeerLayerFetcher fetcher;
  private ColdBuckets buckets;
  private ColdTier tier;
  private String deadRegistry;

  @BeforeAll
  static void startServer() throws IOException {
    server = S3Server.start();
    server.createBucket(BUCKET);
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  @BeforeEach
  void nodes() throws Exception {
    image.writeLayout(tmp.resolve("layout"), "v1");
    storeA = LocalLayerStore.open(tmp.resolve("a"));
    new ImageImporter(
            storeA,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(tmp.resolve("layout"), ImageReference.parse("origin.example/app:v1"));
    exportA =
        HttpExportServer.start(
            storeA,
            new InetSocketAddress("127.0.1.1", 0),
            Set.of(InetAddress.getByName("127.0.1.3")),
            keyA);
    storeC = LocalLayerStore.open(tmp.resolve("c"));
    RegistryClient registry = new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8"));
    ImageImporter importerC = new ImageImporter(storeC, registry, Platform.LINUX_AMD64);
    tier =
        new ColdTier(
            server.endpoint().toString(), BUCKET, "layerns/", null, null, "cold-credentials", 1);
    buckets = new ColdBuckets((ns, name) -> secret(name), "layerns-system", Clock.systemUTC());
    fetcher =
        new PeerLayerFetcher(
            new PeerFetcher(
                importerC,
                PeerFetcher.httpClient(
                    InetAddress.getByName("127.0.1.3"),
                    keyC,
                    TestNodeKeys.published(Map.of(exportA.baseUri(), keyA))),
                Duration.ofSeconds(10)),
            registry,
            buckets);
    try (ServerSocket s = new ServerSocket(0)) {
      deadRegistry = "127.0.0.1:" + s.getLocalPort() + "/app"; // nothing listens there
    }
  }

  /** The Secret as the API server returns its data: base64 values. */
  private static Map<String, String> secret(String name) {
    if (!name.equals("cold-credentials")) {
      return null;
    }
    Base64.Encoder b64 = Base64.getEncoder();
    return Map.of(
        "accessKeyId", b64.encodeToString(server.accessKey().getBytes(StandardCharsets.UTF_8)),
        "secretAccessKey", b64.encodeToString(server.secretKey().getBytes(StandardCharsets.UTF_8)));
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {exportA, storeA, storeC, buckets}) {
      if (c != null) {
        c.close();
      }
    }
  }

  private TestImage.Layer layer() {
    return image.layers().get(0);
  }

  /** Puts the layer's blob in the bucket, as its cold keeper would. */
  private void inBucket(TestImage.Layer layer) throws IOException {
    Path file = tmp.resolve("upload");
    Files.write(file, layer.blob());
    assertThat(buckets.bucket(tier).store(layer.digest(), file, Bucket.Pacer.NONE).state())
        .isEqualTo(Bucket.State.CONFIRMED);
  }

  private AssignedLayer assigned(TestImage.Layer layer, List<String> peers) {
    return new AssignedLayer(
        layer.digest().toString(),
        (long) layer.blob().length,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        peers,
        List.of(deadRegistry),
        "Owner",
        null);
  }

  private Map<String, StoreEndpoints> endpoints() {
    return Map.of("a", new StoreEndpoints(exportA.baseUri().toString(), null, null, null));
  }

  @Test
  void aPeerComesFirst() throws IOException {
    inBucket(layer());
    String from = fetcher.fetch(assigned(layer(), List.of("a")), endpoints(), tier);
    assertThat(from).isEqualTo("peer " + exportA.baseUri());
    assertThat(storeC.fetchedBytes().fromBucket()).isZero();
    assertThat(storeC.fetchedBytes().fromPeers()).isEqualTo(layer().blob().length);
  }

  @Test
  void aLayerOnlyInTheBucketComesBackVerifiedWithTheRegistryDown() throws IOException {
    inBucket(layer());
    exportA.close(); // the only peer that held it is gone
    String from = fetcher.fetch(assigned(layer(), List.of("a")), endpoints(), tier);

    assertThat(from).isEqualTo("bucket " + BUCKET + " at " + server.endpoint());
    assertThat(storeC.hasLayer(layer().digest())).isTrue();
    assertThat(storeC.blob(layer().digest()).orElseThrow()).hasBinaryContent(layer().blob());
    assertThat(storeC.layer(layer().digest()).orElseThrow().directory().resolve("bin/hello"))
        .hasContent("hello cold");
    assertThat(storeC.fetchedBytes().fromBucket()).isEqualTo(layer().blob().length);
    assertThat(storeC.fetchedBytes().fromRegistries()).isZero();
  }

  @Test
  void aCorruptBucketCopyIsNeverUsed() throws IOException {
    inBucket(layer());
    Path object = server.objectFile(BUCKET, "layerns/blobs/sha256/" + layer().digest().hex());
    byte[] rotten = Files.readAllBytes(object);
    rotten[rotten.length / 3] ^= 0x01;
    Files.write(object, rotten);

    assertThatThrownBy(() -> fetcher.fetch(assigned(layer(), List.of()), Map.of(), tier))
        .isInstanceOf(FetchFailedException.class)
        .hasMessageContaining("bucket " + BUCKET + " at " + server.endpoint())
        .hasMessageContaining(deadRegistry.substring(0, deadRegistry.indexOf('/')));
    assertThat(storeC.hasLayer(layer().digest())).isFalse();
    assertThat(storeC.hasBlob(layer().digest())).isFalse();
    assertThat(storeC.fetchedBytes().fromBucket()).isZero();
  }

  @Test
  void aBucketThatCannotBeUsedIsNamedAmongTheSourcesTried() throws IOException {
    ColdTier noSecret =
        new ColdTier(server.endpoint().toString(), BUCKET, "layerns/", null, null, "gone", 1);
    assertThatThrownBy(() -> fetcher.fetch(assigned(layer(), List.of()), Map.of(), noSecret))
        .isInstanceOf(FetchFailedException.class)
        .hasMessageContaining("Secret layerns-system/gone")
        .hasMessageContaining("does not exist");
    server.stop();
    try {
      assertThatThrownBy(() -> fetcher.fetch(assigned(layer(), List.of()), Map.of(), tier))
          .isInstanceOf(FetchFailedException.class)
          .hasMessageContaining("could not reach " + server.endpoint());
    } finally {
      server.resume();
    }
  }
}
