package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.testing.ControlPlaneExtension;
import io.layerns.testing.WithControlPlane;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every file in samples/ is accepted by the real API server, as `kubectl apply -f` would send it.
 */
@WithControlPlane
class SamplesIT {

  static Stream<Path> samples() throws Exception {
    return Files.list(ControlPlaneExtension.repoRoot().resolve("samples"))
        .filter(p -> p.toString().endsWith(".yaml"))
        .sorted();
  }

  @ParameterizedTest(name = "[applies] samples/{0}")
  @MethodSource("samples")
  void sampleIsAcceptedByTheApiServer(Path sample, KubernetesClient client) throws Exception {
    List<HasMetadata> objects;
    try (InputStream in = Files.newInputStream(sample)) {
      objects = client.load(in).items();
    }
    assertThat(objects).as(sample.toString()).isNotEmpty();
    for (HasMetadata object : objects) {
      HasMetadata created = client.resource(object).forceConflicts().serverSideApply();
      assertThat(created.getMetadata().getUid()).as(object.getMetadata().getName()).isNotBlank();
      client.resource(created).delete();
    }
  }
}
