package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.PeerFetcher;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Fetches an assigned layer over the peers' HTTP exports, in the order the operator named them,
 * then from its registry sources; every byte is verified against the digest before it is visible.
 */
public final class PeerLayerFetcher implements LayerFetcher {
  private final PeerFetcher peers;
  private final RegistryClient registry;

  public PeerLayerFetcher(PeerFetcher peers, RegistryClient registry) {
    this.peers = peers;
    this.registry = registry;
  }

  @Override
  public void fetch(AssignedLayer layer, Map<String, StoreEndpoints> endpoints) throws IOException {
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
    if (layer.sources() != null) {
      for (String repository : layer.sources()) {
        // Sources are public repositories recorded at import; private ones need the pod's secret.
        fallbacks.add(registry.repository(ImageReference.parse(repository), DockerConfig.EMPTY));
      }
    }
    peers.fetchLayer(Digest.parse(layer.digest()), null, layer.mediaType(), uris, fallbacks);
  }
}
