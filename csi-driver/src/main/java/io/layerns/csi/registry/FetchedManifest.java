package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;

/**
 * A manifest as a source served it, with the digest of its exact bytes.
 *
 * @param digest the sha256 of {@code bytes}
 * @param contentType the Content-Type the source gave, or null
 * @param bytes the manifest's bytes
 */
public record FetchedManifest(Digest digest, String contentType, byte[] bytes) {}
