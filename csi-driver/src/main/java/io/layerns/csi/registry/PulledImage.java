package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.util.List;

/**
 * An image whose manifest, config and layers are all in the store.
 *
 * @param reference the image as asked for, pinned to {@code manifestDigest}'s top-level digest
 * @param indexDigest the image index the platform manifest was chosen from, or null
 * @param manifestDigest the single-platform manifest's digest
 * @param configDigest the image config's digest
 * @param layers the layers, lowest first: the order of overlay lowerdirs reversed
 */
public record PulledImage(
    ImageReference reference,
    Digest indexDigest,
    Digest manifestDigest,
    Digest configDigest,
    List<Layer> layers) {
  public PulledImage {
    layers = List.copyOf(layers);
  }

  /**
   * One layer of the image.
   *
   * @param digest the compressed blob's digest, which names the layer in the store
   * @param diffId the uncompressed tar's digest, from the image config
   * @param size the blob's size in bytes
   * @param mediaType the layer's media type
   */
  public record Layer(Digest digest, Digest diffId, long size, String mediaType) {}
}
