package io.layerns.csi.cold;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.csi.agent.Scrubber;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.testing.S3Server;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cold keeper on a node's real store against a real S3 server: it writes the layers it keeps,
 * verified; its scrub finds an object corrupted or deleted behind its back, tells it, and writes it
 * again from the node's copy; wrong credentials and a server that is down are told in its access,
 * and copies confirmed before stay confirmed.
 */
class ColdKeeperIT {
  private static final String BUCKET = "keeper";
  private static S3Server server;

  @TempDir Path tmp;
  private final TestImage image = TestImage.threeLayers("keeper", Platform.LINUX_AMD64);
  private LocalLayerStore store;
  private ColdBuckets buckets;
  private ColdKeeper keeper;
  private final AtomicReference<String> secretKey = new AtomicReference<>();
  private final List<String> events = new CopyOnWriteArrayList<>();

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
  void node() throws IOException {
    image.writeLayout(tmp.resolve("layout"), "v1");
    store = LocalLayerStore.open(tmp.resolve("store"));
    new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(tmp.resolve("layout"), ImageReference.parse("origin.example/app:v1"));
    secretKey.set(server.secretKey());
    buckets =
        new ColdBuckets(
            (ns, name) ->
                Map.of(
                    "accessKeyId",
                    b64(server.accessKey()),
                    "secretAccessKey",
                    b64(secretKey.get())),
            "layerns-system",
            Clock.systemUTC());
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  @AfterEach
  void stop() throws IOException {
    if (keeper != null) {
      keeper.close();
    }
    buckets.close();
    store.close();
  }

  private ColdKeeper keeper(Scrubber.Settings scrub) {
    keeper =
        new ColdKeeper(
                buckets,
                store::blob,
                scrub,
                Clock.systemUTC(),
                new ColdKeeper.Listener() {
                  @Override
                  public void changed() {}

                  @Override
                  public void event(boolean warning, String reason, String message) {
                    events.add(reason + ": " + message);
                  }
                })
            .start();
    return keeper;
  }

  private static ColdTier tier(String prefix) {
    return new ColdTier(server.endpoint().toString(), BUCKET, prefix, null, null, "creds", 1);
  }

  private Set<Digest> layers() {
    return image.layers().stream().map(TestImage.Layer::digest).collect(Collectors.toSet());
  }

  private Map<String, ColdCopyState> states() {
    List<ColdCopy> copies = keeper.copies();
    return copies == null
        ? Map.of()
        : copies.stream().collect(Collectors.toMap(ColdCopy::digest, ColdCopy::state));
  }

  private void awaitAll(ColdCopyState state) {
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(states())
                    .hasSize(3)
                    .allSatisfy((d, s) -> assertThat(s).as(d).isEqualTo(state)));
  }

  @Test
  void writesTheKeptLayersVerifiedAndReportsThem() throws IOException {
    keeper(new Scrubber.Settings(64L << 20, Duration.ofHours(1))).keep(tier("w/"), layers());
    awaitAll(ColdCopyState.Confirmed);
    for (TestImage.Layer l : image.layers()) {
      assertThat(server.objectFile(BUCKET, "w/blobs/sha256/" + l.digest().hex()))
          .hasBinaryContent(l.blob());
    }
    assertThat(keeper.access()).hasValueSatisfying(a -> assertThat(a.ready()).isTrue());
    assertThat(keeper.copies()).extracting(ColdCopy::checkedAt).doesNotContainNull();
  }

  @Test
  void theScrubFindsACorruptAndADeletedObjectAndWritesThemAgain() throws IOException {
    // A scrub period of 2 s: every copy is read again about every 2 s.
    keeper(new Scrubber.Settings(64L << 20, Duration.ofSeconds(2))).keep(tier("s/"), layers());
    awaitAll(ColdCopyState.Confirmed);
    TestImage.Layer rot = image.layers().get(0);
    TestImage.Layer gone = image.layers().get(1);
    Path rotFile = server.objectFile(BUCKET, "s/blobs/sha256/" + rot.digest().hex());
    byte[] bytes = Files.readAllBytes(rotFile);
    bytes[bytes.length / 2] ^= 0x10;
    Files.write(rotFile, bytes);
    Files.delete(server.objectFile(BUCKET, "s/blobs/sha256/" + gone.digest().hex()));

    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(events)
                    .anySatisfy(
                        e ->
                            assertThat(e)
                                .startsWith(ColdKeeper.COLD_COPY_CORRUPT)
                                .contains(rot.digest().hex(), "corrupt"))
                    .anySatisfy(
                        e ->
                            assertThat(e)
                                .startsWith(ColdKeeper.COLD_COPY_MISSING)
                                .contains(gone.digest().hex()))
                    .filteredOn(e -> e.startsWith(ColdKeeper.COLD_COPY_REWRITTEN))
                    .hasSizeGreaterThanOrEqualTo(2));
    awaitAll(ColdCopyState.Confirmed);
    assertThat(rotFile).hasBinaryContent(rot.blob());
    assertThat(server.objectFile(BUCKET, "s/blobs/sha256/" + gone.digest().hex()))
        .hasBinaryContent(gone.blob());
  }

  @Test
  void theScrubKeepsToItsRate() throws IOException {
    long rate = 64 * 1024; // bytes a second
    keeper(new Scrubber.Settings(rate, Duration.ofMillis(1))).keep(tier("r/"), layers());
    awaitAll(ColdCopyState.Confirmed);
    long start = System.nanoTime();
    long before = keeper.bytesRead();
    await().atMost(Duration.ofSeconds(30)).until(() -> keeper.bytesRead() - before >= 4 * rate);
    double seconds = (System.nanoTime() - start) / 1e9;
    // Each read is paid for before the next: over seconds, no faster than the rate.
    assertThat((keeper.bytesRead() - before) / seconds)
        .as("scrub bytes a second")
        .isLessThanOrEqualTo(rate * 1.5);
  }

  @Test
  void wrongCredentialsAndAServerThatIsDownAreToldAndConfirmedCopiesStay() throws IOException {
    keeper(new Scrubber.Settings(64L << 20, Duration.ofHours(1))).keep(tier("f/"), layers());
    awaitAll(ColdCopyState.Confirmed);

    secretKey.set("wrong");
    keeper.keep(tier("f2/"), layers()); // another prefix: the credentials are read again
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(keeper.access())
                    .hasValueSatisfying(
                        a -> {
                          assertThat(a.ready()).isFalse();
                          assertThat(a.reason()).isEqualTo("CredentialsInvalid");
                          assertThat(a.message()).contains(BUCKET, server.endpoint().toString());
                        }));
    awaitAll(ColdCopyState.Failed);
    assertThat(events).anySatisfy(e -> assertThat(e).startsWith(ColdKeeper.COLD_TIER_FAILED));

    secretKey.set(server.secretKey());
    keeper.keep(tier("f/"), layers());
    awaitAll(ColdCopyState.Confirmed);
    server.stop();
    try {
      keeper.keep(tier("f/"), Set.of(image.layers().get(0).digest())); // a pass at once
      await()
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () ->
                  assertThat(keeper.access())
                      .hasValueSatisfying(
                          a -> {
                            assertThat(a.reason()).isEqualTo("Unreachable");
                            assertThat(a.message()).contains(server.endpoint().toString());
                          }));
      // Down is not gone: what was confirmed stays so.
      assertThat(keeper.copies())
          .singleElement()
          .satisfies(c -> assertThat(c.state()).isEqualTo(ColdCopyState.Confirmed));
    } finally {
      server.resume();
    }
  }
}
