package io.layerns.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The publish benchmark's check that a volume shows the image: a tree unpacked by GNU tar from one
 * of the benchmark's layers passes, and one changed byte, a missing file or an extra file fails it.
 */
class PublishBenchmarkContentCheckTest {

  @TempDir Path tmp;
  private Map<String, Long> image;
  private Path volume;

  @BeforeEach
  void unpackALayer() throws Exception {
    Path tar = tmp.resolve("layer.tar");
    UnpackBenchmark.writeLayerTar(tar, 2L << 20, new Random(7), "l0/");
    image = PublishBenchmark.checksums(tar);
    volume = Files.createDirectories(tmp.resolve("volume"));
    Process p = new ProcessBuilder("tar", "-xf", tar.toString(), "-C", volume.toString()).start();
    assertThat(p.waitFor()).isZero();
  }

  @Test
  void theUnpackedLayerShowsEveryFileOfTheImage() throws Exception {
    Map<String, Long> seen = new HashMap<>();
    long[] counts = Bench.readAll(volume, seen);

    assertThat(counts[0]).isEqualTo(image.size()).isGreaterThan(10);
    PublishBenchmark.requireSameContents(image, seen, volume);
  }

  @Test
  void oneChangedByteFailsNamingTheFile() throws Exception {
    String file = image.keySet().stream().sorted().findFirst().orElseThrow();
    // Same size, one byte different: a check of counts and totals would pass.
    byte[] bytes = Files.readAllBytes(volume.resolve(file));
    bytes[bytes.length / 2] ^= 1;
    Files.write(volume.resolve(file), bytes, StandardOpenOption.TRUNCATE_EXISTING);

    Map<String, Long> seen = new HashMap<>();
    Bench.readAll(volume, seen);

    assertThatThrownBy(() -> PublishBenchmark.requireSameContents(image, seen, volume))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("0 missing []")
        .hasMessageContaining("1 with other content [" + file + "]")
        .hasMessageContaining("0 not in the image []");
  }

  @Test
  void aMissingOrExtraFileFails() throws Exception {
    String file = image.keySet().stream().sorted().findFirst().orElseThrow();
    Files.move(volume.resolve(file), volume.resolve("l0/stray"));

    Map<String, Long> seen = new HashMap<>();
    Bench.readAll(volume, seen);

    assertThatThrownBy(() -> PublishBenchmark.requireSameContents(image, seen, volume))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("1 missing [" + file + "]")
        .hasMessageContaining("1 not in the image [l0/stray]");
  }
}
