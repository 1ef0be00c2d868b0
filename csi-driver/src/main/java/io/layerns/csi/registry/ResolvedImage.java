package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.util.List;

/**
 * An image whose manifest and config are in the store, and whose layers may or may not be: what a
 * volume needs to decide, per layer, whether to use a local copy, a peer's copy or a fetch.
 *
 * @param reference the image as asked for, pinned to the top-level manifest's digest
 * @param indexDigest the image index the platform manifest was chosen from, or null
 * @param manifestDigest the single-platform manifest's digest
 * @param configDigest the image config's digest
 * @param layers the layers, lowest first, with their diff IDs from the config
 */
public record ResolvedImage(
    ImageReference reference,
    Digest indexDigest,
    Digest manifestDigest,
    Digest configDigest,
    List<PulledImage.Layer> layers) {
  public ResolvedImage {
    layers = List.copyOf(layers);
  }
}
