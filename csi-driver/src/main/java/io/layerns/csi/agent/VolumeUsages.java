package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

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
        out.add(new PublishedVolume(v.volumeId(), v.pod(), v.image(), assembler.layersRead(v)));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The layers whose copy on {@code node} a volume reads: those the node must keep for its volumes.
   * A layer a volume reads from a peer's copy is not among them, so the node's own copy of it, when
   * no longer owned, can go (the peer's copy is kept by the operator, which sees the reference).
   */
  public static Set<String> readHere(List<PublishedVolume> volumes, String node) {
    Set<String> out = new HashSet<>();
    for (PublishedVolume v : volumes) {
      if (v.layers() != null) {
        v.layers().stream()
            .filter(l -> node.equals(l.readsFrom()))
            .forEach(l -> out.add(l.digest()));
      }
    }
    return out;
  }
}
