package io.layerns.csi.node;

import java.nio.file.Path;
import java.util.List;

/**
 * What the plugin remembers about one published volume, since NodeUnpublishVolume only carries the
 * volume id and target path.
 *
 * @param volumeId the CSI volume id
 * @param targetPath where the kubelet asked for the volume
 * @param image the image reference the volume shows
 * @param readOnly whether the overlay is read-only
 * @param layers the layer directories of the overlay, base first
 * @param upperDir the private writable layer, or null for a read-only volume
 * @param workDir overlayfs's work directory beside {@code upperDir}, or null
 * @param pod {@code namespace/name} of the pod the kubelet published it for, or null when the
 *     kubelet did not say (the CSIDriver's podInfoOnMount)
 */
public record VolumeState(
    String volumeId,
    Path targetPath,
    String image,
    boolean readOnly,
    List<Path> layers,
    Path upperDir,
    Path workDir,
    String pod) {

  /** A volume whose pod is not known. */
  public VolumeState(
      String volumeId,
      Path targetPath,
      String image,
      boolean readOnly,
      List<Path> layers,
      Path upperDir,
      Path workDir) {
    this(volumeId, targetPath, image, readOnly, layers, upperDir, workDir, null);
  }

  public VolumeState {
    layers = List.copyOf(layers);
    if (readOnly != (upperDir == null) || (upperDir == null) != (workDir == null)) {
      throw new IllegalArgumentException(
          "a writable volume has an upper and a work directory, a read-only one neither");
    }
  }
}
