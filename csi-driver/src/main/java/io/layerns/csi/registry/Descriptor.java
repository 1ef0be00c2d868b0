package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.util.Map;

/**
 * A content descriptor from a manifest or index: what a blob is, its digest and size.
 *
 * @param mediaType the blob's media type
 * @param digest its digest
 * @param size its size in bytes
 * @param platform the platform of an index entry, or null
 * @param annotations the descriptor's annotations, empty when none
 */
public record Descriptor(
    String mediaType,
    Digest digest,
    long size,
    Platform platform,
    Map<String, String> annotations) {
  public Descriptor {
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }
}
