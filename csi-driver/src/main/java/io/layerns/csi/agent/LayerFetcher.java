package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.StoreEndpoints;
import java.io.IOException;
import java.util.Map;

/**
 * Brings an assigned layer into the node's store, verified: from its peers, else the cold tier's
 * bucket, else its sources.
 */
@FunctionalInterface
public interface LayerFetcher {

  /**
   * @param layer the assignment, naming the peers to try first and the registry sources allowed
   * @param peers export endpoints of the peers, by node name
   * @param coldTier the namespace's cold tier, or null when it has none
   * @return where the layer came from (as {@code ContentSource.describe()} says), or null when it
   *     was already in the store (another fetch brought it)
   * @throws IOException when no peer nor source could deliver the verified layer; the message says
   *     what was tried
   */
  String fetch(AssignedLayer layer, Map<String, StoreEndpoints> peers, ColdTier coldTier)
      throws IOException;
}
