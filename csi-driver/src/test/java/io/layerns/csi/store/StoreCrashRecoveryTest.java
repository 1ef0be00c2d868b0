package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Kills (SIGKILL) a child JVM at each step of an import and checks that reopening the store finds
 * either nothing or a complete layer, never a half-written one, and an empty tmp/.
 */
class StoreCrashRecoveryTest {
  @TempDir Path base;

  @ParameterizedTest(name = "kill -9 at {0} (#{1}): layer visible = {2}, blob visible = {3}")
  @CsvSource({
    "entry-written, 5, false, false",
    "layer-synced, 1, false, false",
    "blob-committed, 1, false, true",
    "layer-committed, 1, true, true",
  })
  void reopeningAfterAKillFindsNoHalfWrittenLayer(
      String point, int occurrence, boolean layerVisible, boolean blobVisible) throws Exception {
    TestLayer layer = tenFiles().layer(LayerCompression.GZIP);
    Path root = base.resolve("store");
    Path blobFile = Files.write(base.resolve("layer.tar.gz"), layer.blob());

    Process child = startImporter(root, point, occurrence, blobFile, layer);
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      assertThat(out.readLine()).isEqualTo("at " + point);
    } finally {
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
    if (!layerVisible) {
      // Proves the kill came mid-import, so that the empty tmp/ below is the store's doing.
      assertThat(LocalLayerStoreTest.list(root.resolve("tmp"))).as("the child's work").isNotEmpty();
    }

    try (LocalLayerStore store = LocalLayerStore.open(root)) {
      assertThat(LocalLayerStoreTest.list(root.resolve("tmp"))).isEmpty();
      assertThat(store.hasLayer(layer.digest())).isEqualTo(layerVisible);
      assertThat(store.hasBlob(layer.digest())).isEqualTo(blobVisible);
      if (blobVisible) {
        assertThat(Digest.of(store.readBlob(layer.digest(), 1 << 20))).isEqualTo(layer.digest());
      }
      StoredLayer stored =
          store.importLayer(
              layer.digest(),
              layer.diffId(),
              layer.mediaType(),
              new ByteArrayInputStream(layer.blob()));
      for (int i = 0; i < 10; i++) {
        assertThat(Files.readString(stored.directory().resolve("dir/file" + i)))
            .isEqualTo("content " + i);
      }
      assertThat(store.listLayers()).containsExactly(stored);
    }
  }

  private static TarBuilder tenFiles() {
    TarBuilder b = new TarBuilder().dir("dir", 0755);
    for (int i = 0; i < 10; i++) {
      b.file("dir/file" + i, "content " + i, 0644);
    }
    return b;
  }

  private static Process startImporter(
      Path root, String point, int occurrence, Path blobFile, TestLayer layer) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    return new ProcessBuilder(
            java,
            "--enable-native-access=ALL-UNNAMED",
            "-cp",
            System.getProperty("java.class.path"),
            CrashingImporter.class.getName(),
            root.toString(),
            point,
            Integer.toString(occurrence),
            blobFile.toString(),
            layer.digest().toString(),
            layer.diffId().toString(),
            layer.mediaType())
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
  }
}
