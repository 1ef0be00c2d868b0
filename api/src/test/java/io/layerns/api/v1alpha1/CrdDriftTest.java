package io.layerns.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The CRDs committed in crds/ are exactly what the Java types generate. Run with {@code
 * -Dlayerns.crds.write=true} ({@code make crds}) to rewrite them.
 */
class CrdDriftTest {
  private static final Path CRDS =
      Path.of(System.getProperty("layerns.repo", "..")).resolve("crds");

  @Test
  void committedCrdsMatchTheTypes() throws Exception {
    Map<String, String> generated = CrdGeneration.generate();
    if (Boolean.getBoolean("layerns.crds.write")) {
      Files.createDirectories(CRDS);
      for (var e : generated.entrySet()) {
        Files.writeString(CRDS.resolve(e.getKey()), e.getValue());
      }
    }
    try (Stream<Path> files = Files.list(CRDS)) {
      assertThat(files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml")))
          .as("files in crds/ (run `make crds` after changing the types)")
          .containsExactlyInAnyOrderElementsOf(generated.keySet());
    }
    for (var e : generated.entrySet()) {
      assertThat(Files.readString(CRDS.resolve(e.getKey())))
          .as("crds/%s is stale: run `make crds` after changing the types", e.getKey())
          .isEqualTo(e.getValue());
    }
  }

  @Test
  void printerColumnsKeepTheDeclaredOrder() throws Exception {
    String layers = CrdGeneration.generate().get("layerns.io_layers.yaml");
    assertThat(layers.indexOf("name: \"Digest\"")).isLessThan(layers.indexOf("name: \"Age\""));
    assertThat(layers.indexOf("name: \"Size\"")).isLessThan(layers.indexOf("name: \"Copies\""));
  }
}
