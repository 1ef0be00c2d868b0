package io.layerns.csi.node;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Makes an image's layers available on this node as directories, for one volume's overlay. */
public interface VolumeAssembler {

  /**
   * Resolves {@code request.image()} and makes each of its layers available (local, remote mount or
   * copy), counting the volume as a user of each.
   *
   * @return the layer directories in manifest order: base layer first, top layer last
   * @throws ImageNotFoundException when the image cannot be resolved from any source
   * @throws ImageAccessDeniedException when a registry refuses the pod's credentials
   * @throws IOException when a source is reachable but fails
   */
  List<Path> assemble(AssemblyRequest request)
      throws ImageNotFoundException, ImageAccessDeniedException, IOException;

  /**
   * Releases what {@link #assemble} acquired for {@code volumeId}, after its overlay is unmounted.
   * Must accept a volume it does not know (a retried unpublish, or one from before a restart).
   */
  void release(String volumeId) throws IOException;

  /**
   * How the volume's layers were reached, for the metrics, until {@link #release}: {@code local}
   * when all were held here, else the remote transport ({@code sshfs}, {@code nfs}) of a layer
   * mounted from a peer, else {@code copy} when one was fetched for this volume.
   */
  default String transport(String volumeId) {
    return "local";
  }
}
