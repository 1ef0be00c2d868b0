package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OwnCopiesTest {
  private static final String A = "sha256:" + "a".repeat(64);
  private static final String B = "sha256:" + "b".repeat(64);
  private static final String C = "sha256:" + "c".repeat(64);

  @Test
  void aCopyTheNodePulledItselfIsReleasedWhenDropped(@TempDir Path dir) throws Exception {
    OwnCopies own = new OwnCopies(dir.resolve("own-copies"));
    own.observe(List.of(A), List.of(), Set.of()); // imported by the node itself
    own.observe(List.of(), List.of(), Set.of()); // dropped for dedup
    assertThat(own.released()).containsExactly(A);
  }

  @Test
  void aCopyFetchedOnlyForPlacementIsNotTheNodesOwn(@TempDir Path dir) throws Exception {
    OwnCopies own = new OwnCopies(dir.resolve("own-copies"));
    own.placing(B);
    own.observe(List.of(), List.of(), Set.of(B)); // still fetching: stays placed
    own.observe(List.of(B), List.of(), Set.of()); // arrived
    own.observe(List.of(), List.of(), Set.of()); // dropped when replicas went down
    assertThat(own.released()).isEmpty();
  }

  @Test
  void aLayerAVolumeReadIsReleasedWhenTheVolumeGoesAndComesBackWhenHeldAgain(@TempDir Path dir)
      throws Exception {
    OwnCopies own = new OwnCopies(dir.resolve("own-copies"));
    own.placing(C);
    own.observe(List.of(C), List.of(C), Set.of()); // placed, then a volume here reads it
    own.observe(List.of(), List.of(), Set.of());
    assertThat(own.released()).containsExactly(C);
    own.observe(List.of(C), List.of(), Set.of());
    assertThat(own.released()).isEmpty();
  }

  @Test
  void aRestartForgetsNothing(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("own-copies");
    OwnCopies own = new OwnCopies(file);
    own.placing(B);
    own.observe(List.of(A, B), List.of(), Set.of());
    own.observe(List.of(B), List.of(), Set.of());
    OwnCopies again = new OwnCopies(file);
    again.observe(List.of(), List.of(), Set.of());
    assertThat(again.released()).containsExactly(A);
    assertThat(Files.readAllLines(file)).doesNotContain("own " + B);
  }

  @Test
  void keepsAtMostTheNewestReleasedLayers(@TempDir Path dir) throws Exception {
    OwnCopies own = new OwnCopies(dir.resolve("own-copies"));
    List<String> many =
        java.util.stream.IntStream.rangeClosed(0, OwnCopies.MAX_RELEASED)
            .mapToObj(i -> "sha256:" + String.format("%064x", i))
            .toList();
    own.observe(many, List.of(), Set.of());
    own.observe(List.of(), List.of(), Set.of());
    assertThat(own.released()).hasSize(OwnCopies.MAX_RELEASED).doesNotContain(many.getFirst());
  }

  @Test
  void aFileThatCannotBeWrittenDoesNotStopTheCount(@TempDir Path dir) throws Exception {
    // Its folder does not exist: every write fails, as on a full disk.
    OwnCopies own = new OwnCopies(dir.resolve("gone/own-copies"));
    own.observe(List.of(A), List.of(), Set.of());
    own.observe(List.of(), List.of(), Set.of());
    assertThat(own.released()).containsExactly(A);
    assertThat(dir.resolve("gone")).doesNotExist();
  }
}
