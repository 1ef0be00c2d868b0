package io.layerns.csi.node;

import java.util.Map;

/**
 * What a volume asks of the {@link VolumeAssembler}.
 *
 * @param volumeId the CSI volume id (kubelet-generated for inline volumes)
 * @param image the image reference, by tag or digest, from the volume attribute {@code image}
 * @param pod the pod the volume is for
 * @param readOnly whether the volume is mounted read-only
 * @param secrets the NodePublishVolume secrets (e.g. registry credentials); never logged
 */
public record AssemblyRequest(
    String volumeId, String image, PodInfo pod, boolean readOnly, Map<String, String> secrets) {

  public AssemblyRequest {
    secrets = Map.copyOf(secrets);
  }

  @Override
  public String toString() {
    // Secrets stay out of logs and exception messages.
    return "AssemblyRequest[volumeId=%s, image=%s, pod=%s, readOnly=%s, secrets=%d keys]"
        .formatted(volumeId, image, pod, readOnly, secrets.size());
  }
}
