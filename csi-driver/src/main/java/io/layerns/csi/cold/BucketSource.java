package io.layerns.csi.cold;

import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.FetchedManifest;
import io.layerns.csi.registry.ManifestDocument;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;

/**
 * The cold tier's bucket as a content source, by digest only (the bucket keeps no tags). Tried
 * after the member peers and before the registry. The importer verifies what it reads, as from any
 * source; the bucket's own stream checks the digest too.
 */
public final class BucketSource implements ContentSource {
  private final Bucket bucket;

  public BucketSource(Bucket bucket) {
    this.bucket = bucket;
  }

  @Override
  public String describe() {
    return bucket.describe();
  }

  @Override
  public boolean resolvesTags() {
    return false;
  }

  @Override
  public NodeMetrics.Source kind() {
    return NodeMetrics.Source.BUCKET;
  }

  @Override
  public FetchedManifest fetchManifest(String reference) throws IOException {
    if (!reference.startsWith("sha256:")) {
      throw new RegistryException(
          RegistryException.Reason.NOT_FOUND, describe(), 404, "keeps no tags (" + reference + ")");
    }
    Digest digest = Digest.parse(reference);
    try (InputStream in = openBlob(digest)) {
      byte[] bytes = in.readNBytes(ManifestDocument.MAX_BYTES + 1);
      if (bytes.length > ManifestDocument.MAX_BYTES) {
        throw new RegistryException(
            RegistryException.Reason.CORRUPT,
            describe(),
            200,
            "manifest " + digest + " is too large");
      }
      in.transferTo(
          java.io.OutputStream.nullOutputStream()); // the stream checks the digest at its end
      return new FetchedManifest(Digest.of(bytes), null, bytes);
    }
  }

  @Override
  public InputStream openBlob(Digest digest) throws IOException {
    return bucket.open(digest);
  }

  @Override
  public String toString() {
    return describe();
  }
}
