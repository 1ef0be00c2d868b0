package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.testing.ControlPlaneExtension;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The images `make image` built (target/image/) are there, named as the test cluster imports them,
 * and layerns:0.1.0 runs: hack/check-image.sh unpacks it and starts the node plugin (CSI socket,
 * /healthz), the operator (up to the API server it lacks) and the node side's tools inside it.
 */
class ImageIT {
  private static final Path IMAGES = ControlPlaneExtension.repoRoot().resolve("target/image");

  @Test
  void theImagesAreBuiltAndNamedForImport() throws Exception {
    assertThat(IMAGES.resolve("layerns-0.1.0-oci/index.json"))
        .as("no OCI layout of layerns:0.1.0: run `make image` first")
        .exists();
    // The full name of the manifests' `layerns:0.1.0`: skopeo writes it so, and the kubelet and
    // containerd normalize the short name in a pod to it.
    assertThat(repoTags("layerns-0.1.0.tar")).isEqualTo("[\"docker.io/library/layerns:0.1.0\"]");
    assertThat(repoTags("pause-3.10.tar")).isEqualTo("[\"layerns.local/pause:3.10\"]");
    assertThat(repoTags("busybox-1.tar")).isEqualTo("[\"layerns.local/busybox:1\"]");
  }

  @Test
  void layernsImageRunsBothEntryPointsAndTheNodeTools() throws Exception {
    assertThat(IMAGES.resolve("layerns-0.1.0-oci/index.json"))
        .as("no OCI layout of layerns:0.1.0: run `make image` first")
        .exists();
    // Fails with the script's output when a check fails; each check's wait is bounded.
    String check =
        PluginProcess.run(
            List.of(
                ControlPlaneExtension.repoRoot().resolve("hack/check-image.sh").toString(),
                IMAGES.resolve("layerns-0.1.0-oci").toString()));
    assertThat(check)
        .contains("check: ok node plugin starts, serves its CSI socket, /healthz answers 200 ok")
        .contains("check: ok operator starts and stops only for want of an API server")
        .contains("check: ok nfs-ganesha")
        .contains("check: ok sshfs");
  }

  /** The RepoTags of a docker-archive's manifest.json, the names `ctr images import` gives. */
  private static String repoTags(String archive) throws Exception {
    Path file = IMAGES.resolve(archive);
    assertThat(file).as("no %s: run `make image` first", archive).exists();
    String manifest = PluginProcess.run(List.of("tar", "-xOf", file.toString(), "manifest.json"));
    return manifest.replaceAll("(?s).*\"RepoTags\":(\\[[^]]*]).*", "$1");
  }
}
