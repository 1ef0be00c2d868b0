package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;

/**
 * A manifest as a source served it, with the digest of its exact bytes.
 *
 * @param digest the sha256 of {@code bytes}
 * @param contentType the Content-Type the source gave, or null
 * @param bytes the manifest's bytes
 * @param privateIn the repository ({@code registry/repository}) that served it only with
 *     credentials (anonymous reads are refused there), or null when anyone may read it
 */
public record FetchedManifest(Digest digest, String contentType, byte[] bytes, String privateIn) {

  /** A manifest anyone may read: peers', layouts', or a registry's anonymous answer. */
  public FetchedManifest(Digest digest, String contentType, byte[] bytes) {
    this(digest, contentType, bytes, null);
  }
}
