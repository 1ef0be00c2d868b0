package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalDirectoryAssemblerTest {

  @TempDir Path root;

  private final PodInfo pod = new PodInfo("p", "ns", "uid", "sa");

  @Test
  void layersComeBaseFirstInNumericOrder() throws Exception {
    var assembler = new LocalDirectoryAssembler(root);
    Path image = assembler.imageDirectory("example.com/app@sha256:abc");
    for (int i = 11; i >= 0; i--) {
      Files.createDirectories(image.resolve(Integer.toString(i)));
    }

    var layers = assembler.assemble(request("example.com/app@sha256:abc"));

    assertThat(layers)
        .containsExactlyElementsOf(
            IntStream.range(0, 12).mapToObj(i -> image.resolve(Integer.toString(i))).toList());
    assertThat(image.getParent()).isEqualTo(root);
  }

  @Test
  void unknownImageIsNotFound() {
    var assembler = new LocalDirectoryAssembler(root);

    assertThatThrownBy(() -> assembler.assemble(request("absent:1")))
        .isInstanceOf(ImageNotFoundException.class)
        .hasMessageStartingWith("image absent:1 not found");
  }

  @Test
  void aGapInTheLayersIsAnError() throws Exception {
    var assembler = new LocalDirectoryAssembler(root);
    Files.createDirectories(assembler.imageDirectory("app:1").resolve("0"));
    Files.createDirectories(assembler.imageDirectory("app:1").resolve("2"));

    assertThatThrownBy(() -> assembler.assemble(request("app:1")))
        .hasMessageContaining("layer folder 1 missing");
  }

  private AssemblyRequest request(String image) {
    return new AssemblyRequest("vol", image, pod, true, Map.of());
  }
}
