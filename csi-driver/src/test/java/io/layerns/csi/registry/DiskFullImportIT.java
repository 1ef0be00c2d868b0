package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.RealMounts;
import io.layerns.csi.registry.TestImage.Compression;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoreFullException;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Imports into a store on an 8 MiB tmpfs (mounted in the test JVM's private mount namespace) an
 * image that does not fit: a clear error naming ENOSPC and the layer, no partial layer or blob
 * visible, tmp/ empty, the layers already there still whole, and a small image imports after.
 */
class DiskFullImportIT {
  private static final String REPO = "team/big";
  private static final long DISK_BYTES = 8L << 20;

  @TempDir Path base;
  private Path disk;
  private ScriptedRegistry registry;
  private LocalLayerStore store;
  private ImageImporter importer;

  /** An image too big for the disk, and what the error must say besides the layer's digest. */
  record Case(String title, TestImage image, String expected) {
    @Override
    public String toString() {
      return title;
    }
  }

  @BeforeEach
  void mountSmallDisk() throws Exception {
    RealMounts.assumeRoot();
    assumeTrue(RealMounts.inPrivateMountNamespace(), "needs the private mount namespace");
    disk = Files.createDirectory(base.resolve("disk"));
    run("mount", "-t", "tmpfs", "-o", "size=" + DISK_BYTES, "tmpfs", disk.toString());
    registry = ScriptedRegistry.start();
    store = LocalLayerStore.open(disk.resolve("store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
  }

  @AfterEach
  void unmount() throws Exception {
    if (store != null) {
      store.close();
      registry.close();
      run("umount", disk.toString());
    }
  }

  static Stream<Case> corpus() {
    return Stream.of(
        new Case(
            "a 40 KiB gzip layer that unpacks to 32 MiB of zeros: stopped before the disk fills",
            image(Compression.GZIP, "\0".repeat(32 << 20)),
            "while keeping 10% of it (838860 bytes) free for the node"),
        new Case(
            "a 6 MiB uncompressed layer: its blob and its tree together would overflow the disk",
            image(Compression.NONE, randomText(6 << 20)),
            "while keeping 10% of it (838860 bytes) free for the node"),
        new Case(
            "a 12 MiB layer, more than the whole disk: refused before any download",
            image(Compression.NONE, randomText(12 << 20)),
            "bytes free (ENOSPC): not downloading it"));
  }

  @ParameterizedTest(name = "[full] {0}")
  @MethodSource("corpus")
  void aClearErrorNothingPartialAndTheStoreStillWorks(Case c) throws Exception {
    TestImage before = TestImage.threeLayers("before", Platform.LINUX_AMD64);
    pull(before, "before");
    Map<Digest, String> layersBefore = verifiedLayers();
    assertThat(layersBefore).hasSize(3);

    registry.push(REPO, c.image(), "v1");
    Digest big = c.image().layers().getFirst().digest();
    assertThatThrownBy(() -> pull(c.image(), "v1"))
        .isInstanceOf(StoreFullException.class)
        .message()
        .contains(big.toString(), c.expected());

    Path root = store.root();
    assertThat(store.hasLayer(big)).isFalse();
    assertThat(store.hasBlob(big)).isFalse();
    assertThat(store.hasBlob(c.image().manifestDigest())).isFalse();
    assertThat(store.hasBlob(c.image().configDigest())).isFalse();
    try (Stream<Path> tmp = Files.list(root.resolve("tmp"))) {
      assertThat(tmp).as("tmp/").isEmpty();
    }
    assertThat(verifiedLayers()).as("layers imported before, re-verified").isEqualTo(layersBefore);

    TestImage after = TestImage.threeLayers("after", Platform.LINUX_AMD64);
    PulledImage pulled = pull(after, "after");
    assertThat(pulled.layers()).hasSize(3);
    StoredLayer first = store.layer(after.layers().getFirst().digest()).orElseThrow();
    assertThat(Files.readString(first.directory().resolve("bin/hello"))).isEqualTo("hello after");
  }

  private PulledImage pull(TestImage image, String tag) throws IOException {
    registry.push(REPO, image, tag);
    return importer.pull(
        ImageReference.parse(registry.host() + "/" + REPO + ":" + tag), DockerConfig.EMPTY);
  }

  /** Each stored layer's blob, hashed again, against its digest; with its tree's file count. */
  private Map<Digest, String> verifiedLayers() throws IOException {
    Map<Digest, String> result =
        new java.util.TreeMap<>(java.util.Comparator.comparing(Digest::hex));
    for (StoredLayer l : store.listLayers()) {
      assertThat(Digest.of(Files.readAllBytes(store.blob(l.digest()).orElseThrow())))
          .isEqualTo(l.digest());
      try (Stream<Path> tree = Files.walk(l.directory())) {
        result.put(l.digest(), l.diffId() + " " + tree.count() + " entries");
      }
    }
    return result;
  }

  private static TestImage image(Compression compression, String content) {
    return new TestImage(
        Platform.LINUX_AMD64,
        List.of(TestImage.Layer.of(compression, Map.of("data/big", content))),
        false);
  }

  /** Text that does not compress much, the same in every run. */
  private static String randomText(int length) {
    Random random = new Random(length);
    char[] chars = new char[length];
    for (int i = 0; i < length; i++) {
      chars[i] = (char) ('!' + random.nextInt(94));
    }
    return new String(chars);
  }

  private static void run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).inheritIO().start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", command)).isZero();
  }
}
