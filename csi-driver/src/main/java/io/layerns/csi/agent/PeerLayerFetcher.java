package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.cold.BucketException;
import io.layerns.csi.cold.ColdBuckets;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.FetchedManifest;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.PeerFetcher;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Fetches an assigned layer over the peers' HTTP exports, in the order the operator named them,
 * then from the namespace's cold tier bucket, then from its registry sources; every byte is
 * verified against the digest before it is visible. The bucket comes before the registry: it is the
 * namespace's own copy, verified when written, and needs no registry (one that is down, or gone).
 */
public final class PeerLayerFetcher implements LayerFetcher {
  private final PeerFetcher peers;
  private final RegistryClient registry;
  private final ColdBuckets cold;

  /** A fetcher with the cold tier's buckets from {@code cold} (null: never from a bucket). */
  public PeerLayerFetcher(PeerFetcher peers, RegistryClient registry, ColdBuckets cold) {
    this.peers = peers;
    this.registry = registry;
    this.cold = cold;
  }

  /** A fetcher that never reads a bucket. */
  public PeerLayerFetcher(PeerFetcher peers, RegistryClient registry) {
    this(peers, registry, null);
  }

  @Override
  public String fetch(AssignedLayer layer, Map<String, StoreEndpoints> endpoints, ColdTier coldTier)
      throws IOException {
    List<URI> uris = new ArrayList<>();
    if (layer.peers() != null) {
      for (String peer : layer.peers()) {
        StoreEndpoints e = endpoints.get(peer);
        if (e != null && e.http() != null) {
          uris.add(URI.create(e.http()));
        }
      }
    }
    List<ContentSource> fallbacks = new ArrayList<>();
    bucket(coldTier).ifPresent(fallbacks::add);
    if (layer.sources() != null) {
      for (String repository : layer.sources()) {
        // Sources are public repositories recorded at import; private ones need the pod's secret.
        fallbacks.add(registry.repository(ImageReference.parse(repository), DockerConfig.EMPTY));
      }
    }
    AtomicReference<String> from = new AtomicReference<>();
    List<ContentSource> sources = new ArrayList<>();
    for (ContentSource s : peers.sources(uris, fallbacks)) {
      sources.add(new Recording(s, from));
    }
    peers.importer().fetchLayer(Digest.parse(layer.digest()), null, layer.mediaType(), -1, sources);
    return from.get();
  }

  /**
   * The bucket as a source; a bucket whose client cannot be made (its Secret missing, say) is a
   * source that fails with that reason, so the fetch's error names it among the sources tried.
   */
  private Optional<ContentSource> bucket(ColdTier tier) {
    if (cold == null || tier == null) {
      return Optional.empty();
    }
    try {
      return cold.source(tier);
    } catch (BucketException e) {
      return Optional.of(new Failing("bucket " + tier.bucket() + " at " + tier.endpoint(), e));
    }
  }

  /**
   * Notes the last source whose blob opened: the importer tries the sources in order and stops at
   * the first whose bytes verify, so that is the one the layer came from.
   */
  private record Recording(ContentSource source, AtomicReference<String> from)
      implements ContentSource {
    @Override
    public String describe() {
      return source.describe();
    }

    @Override
    public boolean resolvesTags() {
      return source.resolvesTags();
    }

    @Override
    public Optional<String> repository() {
      return source.repository();
    }

    @Override
    public NodeMetrics.Source kind() {
      return source.kind();
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      return source.fetchManifest(reference);
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      InputStream in = source.openBlob(digest);
      from.set(source.describe());
      return in;
    }
  }

  private record Failing(String describe, IOException why) implements ContentSource {
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
      throw why;
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      throw why;
    }
  }
}
