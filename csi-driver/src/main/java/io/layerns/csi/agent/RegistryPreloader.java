package io.layerns.csi.agent;

import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Preloads from the image's registry, anonymously: preloaded images are the cluster's, not a pod's.
 */
public final class RegistryPreloader implements Preloader {
  private final ImageImporter importer;
  private final LocalLayerStore store;

  public RegistryPreloader(ImageImporter importer, LocalLayerStore store) {
    this.importer = importer;
    this.store = store;
  }

  @Override
  public boolean imported(String image) throws IOException {
    ImageReference ref = ImageReference.parse(image);
    // Recorded, not necessarily whole: dedup may have moved some of its layers to other nodes.
    return ref.digest() != null
        ? store.hasBlob(ref.digest())
        : importer.refs().lookup(ref).isPresent();
  }

  @Override
  public Map<String, String> importImage(String image) throws IOException {
    PulledImage pulled = importer.pull(ImageReference.parse(image), DockerConfig.EMPTY);
    Map<String, String> sources = new LinkedHashMap<>();
    pulled.layers().forEach(l -> sources.put(l.digest().toString(), pulled.reference().name()));
    return sources;
  }
}
