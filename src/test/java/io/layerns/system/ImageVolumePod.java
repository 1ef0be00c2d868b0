package io.layerns.system;

import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.Map;

/**
 * The pod the real-cluster tests start: busybox on one node, running a shell script, with an image
 * as a layerns CSI inline volume at {@code /image}. Callers add what their test needs (a security
 * context, a pull Secret, another volume) to the builder.
 */
public final class ImageVolumePod {
  private ImageVolumePod() {}

  public static PodBuilder builder(
      String namespace, String name, String node, String image, boolean readOnly, String script) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(namespace)
        .endMetadata()
        .withNewSpec()
        .withNodeSelector(Map.of("kubernetes.io/hostname", node))
        .withRestartPolicy("Never")
        .withTerminationGracePeriodSeconds(1L)
        .addNewContainer()
        .withName("check")
        .withImage(ClusterInstall.BUSYBOX)
        .withImagePullPolicy("Never")
        .withCommand("sh", "-c", script)
        .addNewVolumeMount()
        .withName("image")
        .withMountPath("/image")
        .withReadOnly(readOnly)
        .endVolumeMount()
        .endContainer()
        .addNewVolume()
        .withName("image")
        .withNewCsi()
        .withDriver("csi.layerns.io")
        .withReadOnly(readOnly)
        .withVolumeAttributes(Map.of("image", image))
        .endCsi()
        .endVolume()
        .endSpec();
  }
}
