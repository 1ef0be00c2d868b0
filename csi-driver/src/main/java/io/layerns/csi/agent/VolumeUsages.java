package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeState;
import io.layerns.csi.store.LayerStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The published volumes as the LayerStore status reports them, from the plugin's volume state. */
public final class VolumeUsages {
  private VolumeUsages() {}

  /**
   * Each volume with the layers it reads and whose copy: this node's for a store layer, the peer's
   * for a remote mount, so that the peer's copy is not dropped while the volume reads it.
   */
  public static List<PublishedVolume> of(NodeService node, StoreVolumeAssembler assembler) {
    try {
      List<PublishedVolume> out = new ArrayList<>();
      for (VolumeState v : node.publishedVolumes()) {
        out.add(new PublishedVolume(v.volumeId(), null, v.image(), assembler.layersRead(v)));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Each volume with the store layers it reads; lower dirs outside the store are not layers. */
  public static List<PublishedVolume> of(NodeService node, LayerStore store) {
    try {
      List<PublishedVolume> out = new ArrayList<>();
      Path layers = store.root().resolve("layers").resolve("sha256");
      for (VolumeState v : node.publishedVolumes()) {
        List<VolumeLayer> used = new ArrayList<>();
        for (Path dir : v.layers()) {
          // A store layer's lower dir is layers/sha256/<hex>/diff.
          if (dir.startsWith(layers) && dir.getNameCount() == layers.getNameCount() + 2) {
            used.add(new VolumeLayer("sha256:" + dir.getName(layers.getNameCount()), null));
          }
        }
        out.add(new PublishedVolume(v.volumeId(), null, v.image(), used));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
