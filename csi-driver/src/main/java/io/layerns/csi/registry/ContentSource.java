package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/**
 * Somewhere manifests and blobs can be read from: a registry repository, a peer's export, an OCI
 * image layout. Sources are untrusted: the importer verifies every digest itself.
 */
public interface ContentSource {
  /** Names the source in messages, e.g. {@code registry 127.0.0.1:5000/app}. */
  String describe();

  /**
   * Whether a tag may be resolved here. Peers say no: a tag is mutable, and only the registry (or a
   * layout the operator chose) says what it points at now.
   */
  default boolean resolvesTags() {
    return true;
  }

  /**
   * The registry repository ({@code registry/repository}) behind this source, which private marks
   * name; empty for peers and layouts.
   */
  default Optional<String> repository() {
    return Optional.empty();
  }

  /**
   * What kind of source this is, for the fetched-bytes figures: a registry repository names itself,
   * a peer resolves no tags, what is left is a layout. The cold tier's bucket says so itself.
   */
  default io.layerns.csi.metrics.NodeMetrics.Source kind() {
    if (repository().isPresent()) {
      return io.layerns.csi.metrics.NodeMetrics.Source.REGISTRY;
    }
    return resolvesTags()
        ? io.layerns.csi.metrics.NodeMetrics.Source.LAYOUT
        : io.layerns.csi.metrics.NodeMetrics.Source.PEER;
  }

  /**
   * Reads a manifest by tag or digest (the caller checks the digest).
   *
   * @throws RegistryException when the source answers without the manifest
   * @throws IOException when the source cannot be reached
   */
  FetchedManifest fetchManifest(String reference) throws IOException;

  /**
   * Opens a blob by digest; the caller verifies what it reads.
   *
   * @throws RegistryException when the source answers without the blob
   * @throws IOException when the source cannot be reached
   */
  InputStream openBlob(Digest digest) throws IOException;
}
