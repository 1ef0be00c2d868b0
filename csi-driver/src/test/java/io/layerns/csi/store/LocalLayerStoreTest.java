package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store's API: blobs, layers, leases, deletion, sizes, and recovery when it opens. */
class LocalLayerStoreTest {
  @TempDir Path base;
  private Path root;
  private LocalLayerStore store;

  @BeforeEach
  void open() throws IOException {
    root = base.resolve("store");
    store = LocalLayerStore.open(root);
  }

  @AfterEach
  void close() throws IOException {
    store.close();
  }

  @Test
  void putBlobVerifiesTheDigestAndReturnsTheSize() throws IOException {
    byte[] manifest = "{\"schemaVersion\":2}".getBytes(StandardCharsets.UTF_8);
    Digest digest = Digest.of(manifest);

    long size = store.putBlob(digest, new ByteArrayInputStream(manifest));

    assertThat(size).isEqualTo(manifest.length);
    assertThat(store.hasBlob(digest)).isTrue();
    assertThat(store.readBlob(digest, 1024)).isEqualTo(manifest);
    try (InputStream in = store.openBlob(digest)) {
      assertThat(in.readAllBytes()).isEqualTo(manifest);
    }
    assertThat(store.blob(digest)).contains(root.resolve("blobs/sha256/" + digest.hex()));
  }

  @Test
  void aBlobWithTheWrongDigestIsNotStored() throws IOException {
    Digest claimed = Digest.of("expected".getBytes(StandardCharsets.UTF_8));

    assertThatThrownBy(
            () -> store.putBlob(claimed, new ByteArrayInputStream("tampered".getBytes())))
        .isInstanceOf(DigestMismatchException.class)
        .hasMessage(
            "blob %s: the content (8 bytes) has digest %s",
            claimed, Digest.of("tampered".getBytes()));
    assertThat(store.hasBlob(claimed)).isFalse();
    assertThat(list(root.resolve("tmp"))).isEmpty();
  }

  @Test
  void readBlobRefusesBlobsLargerThanAsked() throws IOException {
    byte[] big = new byte[2048];
    Digest digest = Digest.of(big);
    store.putBlob(digest, new ByteArrayInputStream(big));

    assertThatThrownBy(() -> store.readBlob(digest, 1024)).hasMessageContaining("2048 bytes");
  }

  @Test
  void unpackingALayerWhoseBlobIsMissingSaysSo() {
    Digest absent = Digest.of("absent".getBytes());

    assertThatThrownBy(() -> store.unpackLayer(absent, null, null))
        .isInstanceOf(NoSuchFileException.class);
  }

  @Test
  void listsLayersWithSizesAndCountsUsedBytes() throws IOException {
    TestLayer small = new TarBuilder().file("a", "12345", 0644).layer(LayerCompression.GZIP);
    TestLayer large =
        new TarBuilder()
            .file("b", "x".repeat(1000), 0644)
            .hardlink("c", "b")
            .layer(LayerCompression.ZSTD);
    importLayer(small);
    importLayer(large);

    List<StoredLayer> layers = store.listLayers();

    assertThat(layers)
        .extracting(StoredLayer::digest, StoredLayer::contentBytes, StoredLayer::entries)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple(small.digest(), 5L, 1L),
            org.assertj.core.groups.Tuple.tuple(large.digest(), 1000L, 2L));
    assertThat(store.usedBytes()).isEqualTo(small.blob().length + large.blob().length + 5 + 1000);
  }

  @Test
  void aLeasedLayerIsKeptAndDeletedOnceReleased() throws IOException {
    TestLayer layer = new TarBuilder().file("f", "in use", 0644).layer(LayerCompression.GZIP);
    StoredLayer stored = importLayer(layer);
    LayerLease first = store.lease(layer.digest());
    LayerLease second = store.lease(layer.digest());

    assertThat(store.deleteLayer(layer.digest())).isEqualTo(DeleteOutcome.IN_USE);
    first.close();
    first.close();
    assertThat(store.deleteLayer(layer.digest())).isEqualTo(DeleteOutcome.IN_USE);
    second.close();

    try (InputStream reader = Files.newInputStream(stored.directory().resolve("f"))) {
      assertThat(store.deleteLayer(layer.digest())).isEqualTo(DeleteOutcome.DELETED);
      assertThat(new String(reader.readAllBytes()))
          .as("an open file stays readable")
          .isEqualTo("in use");
    }
    assertThat(store.hasLayer(layer.digest())).isFalse();
    assertThat(store.listLayers()).isEmpty();
    assertThat(Files.exists(stored.directory())).isFalse();
    assertThat(store.deleteLayer(layer.digest())).isEqualTo(DeleteOutcome.ABSENT);
    assertThat(list(root.resolve("tmp"))).isEmpty();
    assertThatThrownBy(() -> store.lease(layer.digest())).isInstanceOf(NoSuchFileException.class);
  }

  @Test
  void concurrentUnpacksOfOneLayerProduceOneLayer() throws Exception {
    TestLayer layer = LayerUnpackTest.richLayer().layer(LayerCompression.GZIP);
    store.putBlob(layer.digest(), new ByteArrayInputStream(layer.blob()));
    CyclicBarrier start = new CyclicBarrier(4);
    Callable<StoredLayer> unpack =
        () -> {
          start.await();
          return store.unpackLayer(layer.digest(), layer.diffId(), layer.mediaType());
        };

    try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
      List<Future<StoredLayer>> results = pool.invokeAll(List.of(unpack, unpack, unpack, unpack));
      for (Future<StoredLayer> r : results) {
        assertThat(r.get()).isEqualTo(results.getFirst().get());
      }
    }
    assertThat(list(root.resolve("layers/sha256"))).containsExactly(layer.digest().hex());
    assertThat(list(root.resolve("tmp"))).isEmpty();
  }

  @Test
  void aSecondOpenOfTheSameStoreIsRefused() {
    assertThatThrownBy(() -> LocalLayerStore.open(root))
        .hasMessage("the layer store at " + root + " is open in another process");
  }

  @Test
  void openingTheStoreRemovesHalfWrittenWorkAndKeepsCommittedLayers() throws IOException {
    TestLayer layer = new TarBuilder().file("f", "committed", 0644).layer(LayerCompression.NONE);
    StoredLayer committed = importLayer(layer);
    store.close();
    Path halfUnpacked = Files.createDirectories(root.resolve("tmp/layer-0123-crashed/diff/etc"));
    Files.writeString(halfUnpacked.resolve("half"), "half");
    Files.createSymbolicLink(root.resolve("tmp/layer-0123-crashed/diff/esc"), base);
    Files.writeString(root.resolve("tmp/blob-123"), "partial blob");
    Path foreign =
        Files.createDirectories(root.resolve("layers/sha256/" + "ab".repeat(32) + "/diff"));

    store = LocalLayerStore.open(root);

    assertThat(list(root.resolve("tmp"))).isEmpty();
    assertThat(Files.exists(foreign)).isFalse();
    assertThat(store.listLayers()).containsExactly(committed);
    assertThat(Files.readString(committed.directory().resolve("f"))).isEqualTo("committed");
    assertThat(list(base)).containsExactly("store");
  }

  private StoredLayer importLayer(TestLayer layer) throws IOException {
    return store.importLayer(
        layer.digest(), layer.diffId(), layer.mediaType(), new ByteArrayInputStream(layer.blob()));
  }

  static List<String> list(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
