package io.layerns.csi.registry;

import java.util.List;

/**
 * A single-platform image manifest.
 *
 * @param mediaType OCI or Docker schema 2 manifest media type
 * @param config the image config's descriptor
 * @param layers the layers, lowest first
 */
public record ImageManifest(String mediaType, Descriptor config, List<Descriptor> layers)
    implements ManifestDocument {
  public ImageManifest {
    layers = List.copyOf(layers);
  }
}
