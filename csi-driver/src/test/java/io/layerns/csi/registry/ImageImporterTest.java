package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageImporterTest {
  @TempDir Path tmp;
  private LocalLayerStore store;
  private ImageImporter importer;
  private final TestImage image = TestImage.threeLayers("v1", Platform.LINUX_AMD64);

  @BeforeEach
  void open() throws IOException {
    store = LocalLayerStore.open(tmp.resolve("store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
  }

  @AfterEach
  void close() throws IOException {
    store.close();
  }

  @Test
  void importsAnOciLayoutAndRecordsTheTag() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    ImageReference ref = ImageReference.parse("layout.example/team/app:v1");

    PulledImage pulled = importer.importLayout(layout, ref);

    assertThat(pulled.manifestDigest()).isEqualTo(image.manifestDigest());
    assertThat(pulled.configDigest()).isEqualTo(image.configDigest());
    assertThat(pulled.indexDigest()).isNull();
    assertThat(pulled.reference()).isEqualTo(ref.withDigest(image.manifestDigest()));
    assertThat(pulled.layers())
        .extracting(PulledImage.Layer::digest, PulledImage.Layer::diffId)
        .containsExactlyElementsOf(
            image.layers().stream()
                .map(l -> org.assertj.core.groups.Tuple.tuple(l.digest(), l.diffId()))
                .toList());
    for (TestImage.Layer l : image.layers()) {
      Path dir = store.layer(l.digest()).orElseThrow().directory();
      for (Map.Entry<String, String> f : l.files().entrySet()) {
        assertThat(dir.resolve(f.getKey())).hasContent(f.getValue());
      }
    }
    assertThat(store.hasBlob(image.manifestDigest())).isTrue();
    assertThat(importer.refs().lookup(ref)).contains(image.manifestDigest());
    assertThat(importer.refs().lookup("team/app", "v1")).contains(image.manifestDigest());
    assertThat(importer.refs().lookup("layout.example/team/app", "v1"))
        .contains(image.manifestDigest());
  }

  @Test
  void findsAPulledImageWithoutAnySource() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    ImageReference ref = ImageReference.parse("layout.example/app:v1");
    assertThat(importer.findLocal(ref)).isEmpty();
    importer.importLayout(layout, ref);

    assertThat(importer.findLocal(ref))
        .hasValueSatisfying(p -> assertThat(p.manifestDigest()).isEqualTo(image.manifestDigest()));
    assertThat(importer.findLocal(ImageReference.parse("layout.example/app:v2"))).isEmpty();
    // Pinned by digest, it resolves from the store alone even under another name.
    PulledImage pinned =
        importer.pull(
            ImageReference.parse("elsewhere.example/app@" + image.manifestDigest()), List.of());
    assertThat(pinned.layers()).hasSize(3);
  }

  @Test
  void aCorruptSourceIsSkippedAndWhatItSentNeverShows() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    ContentSource good = new LayoutSource(layout);
    ContentSource corrupt = new FlippingSource(good);
    ImageReference ref = ImageReference.parse("layout.example/app@" + image.manifestDigest());

    PulledImage pulled = importer.pull(ref, List.of(corrupt, good));

    assertThat(pulled.layers()).hasSize(3);
    for (TestImage.Layer l : image.layers()) {
      assertThat(store.layer(l.digest()).orElseThrow().diffId()).isEqualTo(l.diffId());
    }
  }

  @Test
  void onlyCorruptSourcesFailWithEveryAttemptNamedAndNothingStored() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    ContentSource good = new LayoutSource(layout);
    TestImage.Layer layer = image.layers().get(1);

    assertThatThrownBy(
            () ->
                importer.fetchLayer(
                    layer.digest(),
                    layer.diffId(),
                    null,
                    layer.blob().length,
                    List.of(new FlippingSource(good), new FlippingSource(good))))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e -> {
              assertThat(e.reason()).isEqualTo(Reason.CORRUPT);
              assertThat(e.attempts()).hasSize(2);
              assertThat(e.getMessage()).contains("flipping layout", "layer " + layer.digest());
            });
    assertThat(store.hasBlob(layer.digest())).isFalse();
    assertThat(store.hasLayer(layer.digest())).isFalse();
    try (Stream<Path> litter = Files.list(store.root().resolve("tmp"))) {
      assertThat(litter).isEmpty();
    }
  }

  @Test
  void aSourceSendingMoreThanTheDescriptorSaysIsCutOff() throws IOException {
    TestImage.Layer layer = image.layers().getFirst();
    ContentSource endless =
        new FixedSource(
            "endless",
            digest ->
                new java.io.InputStream() {
                  @Override
                  public int read() {
                    return 0;
                  }
                });
    assertThatThrownBy(
            () ->
                importer.fetchLayer(
                    layer.digest(), layer.diffId(), null, layer.blob().length, List.of(endless)))
        .isInstanceOf(FetchFailedException.class)
        .hasMessageContaining("longer than the " + layer.blob().length + " bytes");
    assertThat(store.hasLayer(layer.digest())).isFalse();
  }

  @Test
  void aDownloadCutOffMidwayLeavesNothingAndTheNextFetchStartsOver() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    LayoutSource good = new LayoutSource(layout);
    TestImage.Layer layer = image.layers().getFirst();
    ContentSource dropping =
        new FixedSource(
            "dropping",
            digest ->
                new java.io.SequenceInputStream(
                    new ByteArrayInputStream(layer.blob(), 0, layer.blob().length / 2),
                    new InputStream() {
                      @Override
                      public int read() throws IOException {
                        throw new java.net.SocketException("Connection reset");
                      }
                    }));

    assertThatThrownBy(
            () ->
                importer.fetchLayer(
                    layer.digest(), layer.diffId(), null, layer.blob().length, List.of(dropping)))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.UNAVAILABLE))
        .hasMessageContaining("dropping: Connection reset");
    assertThat(store.hasBlob(layer.digest())).isFalse();
    assertThat(store.hasLayer(layer.digest())).isFalse();
    try (Stream<Path> litter = Files.list(store.root().resolve("tmp"))) {
      assertThat(litter).isEmpty();
    }

    StoredLayer stored =
        importer.fetchLayer(
            layer.digest(), layer.diffId(), null, layer.blob().length, List.of(dropping, good));
    assertThat(stored.directory().resolve("bin/hello")).hasContent("hello v1");
  }

  @Test
  void concurrentRequestsForOneLayerShareOneDownload() throws Exception {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    LayoutSource layoutSource = new LayoutSource(layout);
    CountDownLatch release = new CountDownLatch(1);
    Map<Digest, AtomicInteger> opens = new ConcurrentHashMap<>();
    ContentSource gated =
        new FixedSource(
            "gated",
            digest -> {
              opens.computeIfAbsent(digest, d -> new AtomicInteger()).incrementAndGet();
              try {
                release.await(10, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
              }
              return layoutSource.openBlob(digest);
            });
    TestImage.Layer layer = image.layers().getFirst();

    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<StoredLayer> first =
          pool.submit(
              () -> importer.fetchLayer(layer.digest(), layer.diffId(), null, -1, List.of(gated)));
      await().atMost(Duration.ofSeconds(10)).until(() -> opens.containsKey(layer.digest()));
      Future<StoredLayer> second =
          pool.submit(
              () -> importer.fetchLayer(layer.digest(), layer.diffId(), null, -1, List.of(gated)));
      await().atMost(Duration.ofSeconds(10)).until(() -> importer.sharedDownloads() == 1);
      release.countDown();

      assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo(second.get(10, TimeUnit.SECONDS));
    }
    assertThat(opens.get(layer.digest()).get()).isEqualTo(1);
  }

  @Test
  void picksThePlatformFromALayoutIndex() throws IOException {
    TestImage arm = TestImage.threeLayers("v1-arm", Platform.parse("linux/arm64"));
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "unused");
    arm.writeLayout(tmp.resolve("arm"), "unused");
    for (Path p : Files.newDirectoryStream(tmp.resolve("arm/blobs/sha256"))) {
      Files.copy(
          p,
          layout.resolve("blobs/sha256").resolve(p.getFileName()),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    byte[] index = TestImage.index(List.of(arm, image));
    Files.write(layout.resolve("blobs/sha256").resolve(Digest.of(index).hex()), index);
    Files.writeString(
        layout.resolve("index.json"),
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d,\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}}]}"
            .formatted(MediaTypes.OCI_INDEX, Digest.of(index), index.length));

    PulledImage amd = importer.importLayout(layout, ImageReference.parse("l.example/app:multi"));
    assertThat(amd.indexDigest()).isEqualTo(Digest.of(index));
    assertThat(amd.manifestDigest()).isEqualTo(image.manifestDigest());

    ImageImporter armImporter =
        new ImageImporter(store, importer.registryClient(), Platform.parse("linux/arm64/v8"));
    PulledImage armPulled =
        armImporter.importLayout(layout, ImageReference.parse("l.example/app:multi"));
    assertThat(armPulled.manifestDigest()).isEqualTo(arm.manifestDigest());
    assertThat(
            store
                .layer(arm.layers().get(2).digest())
                .orElseThrow()
                .directory()
                .resolve("app/arm64"))
        .hasContent("arch v1-arm");

    ImageImporter s390 =
        new ImageImporter(store, importer.registryClient(), Platform.parse("linux/s390x"));
    assertThatThrownBy(() -> s390.importLayout(layout, ImageReference.parse("l.example/app:multi")))
        .isInstanceOfSatisfying(
            RegistryException.class, e -> assertThat(e.reason()).isEqualTo(Reason.NOT_FOUND))
        .hasMessageContaining("no manifest for platform linux/s390x")
        .hasMessageContaining("[linux/arm64, linux/amd64]");
  }

  @Test
  void anUnknownLayoutTagIsNotFound() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    assertThatThrownBy(
            () -> importer.importLayout(layout, ImageReference.parse("l.example/app:v9")))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.NOT_FOUND))
        .hasMessageContaining("no image named \"v9\"")
        .hasMessageContaining("[v1]");
  }

  @Test
  void countsLayerBytesByWhereTheyCameFromAndKeepsTheCountAcrossARestart() throws IOException {
    Path layout = tmp.resolve("layout");
    image.writeLayout(layout, "v1");
    ContentSource good = new LayoutSource(layout);
    ContentSource peer = new Posing(good, true);
    ContentSource registry = new Posing(good, false);
    List<TestImage.Layer> layers = image.layers();
    long[] sizes = new long[layers.size()];
    for (int i = 0; i < sizes.length; i++) {
      sizes[i] = layers.get(i).blob().length;
    }

    // A peer whose bytes fail verification counts nothing; the registry after it counts.
    importer.fetchLayer(
        layers.get(0).digest(),
        null,
        null,
        -1,
        List.of(new Posing(new FlippingSource(good), true), registry));
    importer.fetchLayer(layers.get(1).digest(), null, null, -1, List.of(peer, registry));
    importer.fetchLayer(layers.get(2).digest(), null, null, -1, List.of(good)); // a layout
    importer.fetchLayer(layers.get(1).digest(), null, null, -1, List.of(peer)); // held already

    assertThat(store.fetchedBytes().fromRegistries()).isEqualTo(sizes[0]);
    assertThat(store.fetchedBytes().fromPeers()).isEqualTo(sizes[1]);
    store.close();
    store = LocalLayerStore.open(tmp.resolve("store"));
    assertThat(store.fetchedBytes().fromRegistries()).isEqualTo(sizes[0]);
    assertThat(store.fetchedBytes().fromPeers()).isEqualTo(sizes[1]);
  }

  @Test
  void aDamagedCountFileStartsTheCountAgainAndTheStoreStillOpens() throws IOException {
    store.close();
    java.nio.file.Files.writeString(
        tmp.resolve("store/fetched-bytes.properties"), "peers=not a number\n");
    store = LocalLayerStore.open(tmp.resolve("store"));
    assertThat(store.fetchedBytes().fromPeers()).isZero();
  }

  /** Another source's content, served as a peer serves it or as a registry repository does. */
  private record Posing(ContentSource inner, boolean peer) implements ContentSource {
    @Override
    public String describe() {
      return (peer ? "peer " : "registry ") + inner.describe();
    }

    @Override
    public boolean resolvesTags() {
      return !peer;
    }

    @Override
    public java.util.Optional<String> repository() {
      return peer ? java.util.Optional.empty() : java.util.Optional.of("registry.test/app");
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      return inner.fetchManifest(reference);
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      return inner.openBlob(digest);
    }
  }

  /** A source that serves another source's content with one byte flipped. */
  private record FlippingSource(ContentSource inner) implements ContentSource {
    @Override
    public String describe() {
      return "flipping " + inner.describe();
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      return inner.fetchManifest(reference);
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      byte[] bytes;
      try (InputStream in = inner.openBlob(digest)) {
        bytes = in.readAllBytes();
      }
      bytes[bytes.length - 1] ^= 0x01;
      return new ByteArrayInputStream(bytes);
    }
  }

  @FunctionalInterface
  private interface Opener {
    InputStream open(Digest digest) throws IOException;
  }

  /** A source whose blobs come from a function; it has no manifests. */
  private record FixedSource(String name, Opener opener) implements ContentSource {
    @Override
    public String describe() {
      return name;
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      throw new RegistryException(Reason.NOT_FOUND, name, 404, "no manifests here");
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      return opener.open(digest);
    }
  }

  @SuppressWarnings("unused")
  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
