package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.PublishedVolume;
import java.util.List;

/** The volumes published on this node and the layers they read, so eviction spares them. */
@FunctionalInterface
public interface VolumeUsage {
  List<PublishedVolume> publishedVolumes();
}
