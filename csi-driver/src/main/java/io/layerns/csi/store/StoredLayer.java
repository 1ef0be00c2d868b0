package io.layerns.csi.store;

import java.nio.file.Path;

/**
 * A layer unpacked in the store.
 *
 * @param digest the compressed blob's digest, which names the layer cluster-wide
 * @param diffId the digest of the uncompressed tar
 * @param mediaType the media type it was unpacked as, or null when unknown
 * @param directory the unpacked tree in overlay format: what overlayfs takes as a lowerdir
 * @param contentBytes bytes of file content in the tree (apparent size, hardlinks once)
 * @param entries tar entries the layer had
 */
public record StoredLayer(
    Digest digest,
    Digest diffId,
    String mediaType,
    Path directory,
    long contentBytes,
    long entries) {}
