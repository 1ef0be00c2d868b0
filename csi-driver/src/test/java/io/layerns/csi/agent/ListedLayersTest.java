package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ListedLayersTest {
  private static final String A = "sha256:" + "a".repeat(64);
  private static final String B = "sha256:" + "b".repeat(64);
  private static final String C = "sha256:" + "c".repeat(64);

  @TempDir Path tmp;

  @Test
  void aRestartedAgentStillKnowsWhatTheOperatorListed() throws Exception {
    Path file = tmp.resolve("listed-layers");
    ListedLayers before = new ListedLayers(file);
    before.update(List.of(A, B), Set.of());

    ListedLayers after = new ListedLayers(file);

    assertThat(after.contains(A)).isTrue();
    assertThat(after.contains(B)).isTrue();
    assertThat(after.contains(C)).isFalse(); // never listed: a fresh import, kept for the grace
  }

  @Test
  void whatIsNeitherListedNorHeldIsForgottenAndADroppedCopyToo() throws Exception {
    Path file = tmp.resolve("listed-layers");
    ListedLayers listed = new ListedLayers(file);
    listed.update(List.of(A, B, C), Set.of());

    // B is no longer listed but still held (a volume reads it); C is neither.
    listed.update(List.of(A), Set.of(A, B));
    assertThat(new ListedLayers(file).contains(B)).isTrue();
    assertThat(new ListedLayers(file).contains(C)).isFalse();

    listed.remove(B); // dropped from the store
    assertThat(new ListedLayers(file).contains(B)).isFalse();
    assertThat(Files.readAllLines(file)).containsExactly(A);
  }
}
