package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store's scrub: re-verifying a copy's blob and tree, and taking a rotten copy out. */
class StoreScrubTest {
  @TempDir Path base;
  private Path root;
  private LocalLayerStore store;
  private TestLayer layer;
  private StoredLayer stored;

  @BeforeEach
  void importALayer() throws IOException {
    root = base.resolve("store");
    store = LocalLayerStore.open(root);
    layer = LayerUnpackTest.richLayer().layer(LayerCompression.GZIP);
    stored =
        store.importLayer(
            layer.digest(),
            layer.diffId(),
            layer.mediaType(),
            new ByteArrayInputStream(layer.blob()));
  }

  @AfterEach
  void close() throws IOException {
    store.close();
  }

  @Test
  void anIntactCopyPassesAndItsVerificationTimeMoves() throws IOException {
    Instant imported = store.lastVerified(layer.digest()).orElseThrow();
    AtomicLong paced = new AtomicLong();

    assertThat(store.verify(layer.digest(), paced::addAndGet)).isEmpty();

    assertThat(store.lastVerified(layer.digest()).orElseThrow()).isAfterOrEqualTo(imported);
    assertThat(paced.get())
        .as("every byte read went through the pacer")
        .isGreaterThanOrEqualTo(layer.blob().length + stored.contentBytes());
  }

  @Test
  void theManifestRecordedAtImportIsTheTreeReadBackWhateverTheLayerRewrote() throws IOException {
    // The import hashes files as it writes them; entries that rewrite a path (a later copy of a
    // file, a hardlink to a file that is then replaced, a file turned into a directory) must leave
    // the manifest the scrub would read back, or the scrub would take a good copy for rot.
    TestLayer rewriting =
        new TarBuilder()
            .dir("./", 0755)
            .file("a", "first a", 0644)
            .hardlink("a-link", "a")
            .file("a", "second, longer a", 0644)
            .file("b", "same size", 0644)
            .file("b", "SAME SIZE", 0600)
            .file("c", "a file first", 0644)
            .dir("c", 0755)
            .file("c/d", "then a directory", 0644)
            .file("e", "", 0644)
            .layer(LayerCompression.GZIP);
    StoredLayer copy =
        store.importLayer(
            rewriting.digest(),
            rewriting.diffId(),
            rewriting.mediaType(),
            new ByteArrayInputStream(rewriting.blob()));

    assertThat(Files.readString(copy.directory().resolve("a-link"))).isEqualTo("first a");
    assertThat(store.verify(rewriting.digest(), TreeManifest.Pacer.NONE)).isEmpty();
  }

  @Test
  void aFlippedByteInAnUnpackedFileIsFoundAndNamed() throws IOException {
    Path file = aRegularFile();
    flipFirstByte(file);

    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE))
        .hasValueSatisfying(
            problem ->
                assertThat(problem)
                    .contains("unpacked tree differs")
                    .contains(stored.directory().relativize(file).toString()));
  }

  @Test
  void aFlippedByteInTheBlobIsFound() throws IOException {
    flipFirstByte(store.blob(layer.digest()).orElseThrow());

    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE))
        .hasValueSatisfying(p -> assertThat(p).contains("its blob").contains("hashes to"));
  }

  @Test
  void aChangedModeIsFound() throws IOException {
    Path file = aRegularFile();
    io.layerns.csi.store.posix.Posix.chmod(file, 0777);

    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE)).isPresent();
  }

  @Test
  void aQuarantinedCopyLeavesTheStoreAtOnceAndALeasedOneStaysReadableUntilReleased()
      throws IOException {
    LayerLease lease = store.lease(layer.digest());
    Path file = aRegularFile();
    String relative = stored.directory().relativize(file).toString();

    assertThat(store.quarantine(layer.digest())).isTrue();

    assertThat(store.hasLayer(layer.digest())).isFalse();
    assertThat(store.hasBlob(layer.digest())).isFalse();
    assertThat(store.listLayers()).isEmpty();
    Path moved;
    try (var s = Files.list(root.resolve("quarantine"))) {
      moved = s.findFirst().orElseThrow();
    }
    assertThat(moved.resolve("diff").resolve(relative)).exists();
    store.emptyQuarantine();
    assertThat(moved).as("a volume still reads it").exists();

    lease.close();
    store.emptyQuarantine();
    assertThat(moved).doesNotExist();
    // A good copy can come in its place.
    store.importLayer(
        layer.digest(), layer.diffId(), layer.mediaType(), new ByteArrayInputStream(layer.blob()));
    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE)).isEmpty();
  }

  @Test
  void aLayerFromBeforeManifestsGetsOneAtItsFirstScrub() throws IOException {
    Path info = root.resolve("layers/sha256/" + layer.digest().hex() + "/layer.properties");
    String without =
        Files.readString(info, StandardCharsets.UTF_8).replaceAll("(?m)^treeManifest=.*\\n", "");
    Files.writeString(info, without);
    Files.delete(info.resolveSibling("tree.manifest"));

    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE)).isEmpty();
    flipFirstByte(aRegularFile());
    assertThat(store.verify(layer.digest(), TreeManifest.Pacer.NONE)).isPresent();
  }

  private Path aRegularFile() throws IOException {
    try (var walk = Files.walk(stored.directory())) {
      return walk.filter(p -> Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
          .filter(
              p -> {
                try {
                  return Files.size(p) > 0;
                } catch (IOException e) {
                  return false;
                }
              })
          .sorted()
          .findFirst()
          .orElseThrow();
    }
  }

  static void flipFirstByte(Path file) throws IOException {
    Corruption.flipByte(file, 0);
  }
}
