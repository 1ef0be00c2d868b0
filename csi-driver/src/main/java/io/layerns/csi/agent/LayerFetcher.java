package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.StoreEndpoints;
import java.io.IOException;
import java.util.Map;

/** Brings an assigned layer into the node's store, verified: from its peers, else its sources. */
@FunctionalInterface
public interface LayerFetcher {

  /**
   * @param layer the assignment, naming the peers to try first and the registry sources allowed
   * @param peers export endpoints of the peers, by node name
   * @throws IOException when no peer nor source could deliver the verified layer; the message says
   *     what was tried
   */
  void fetch(AssignedLayer layer, Map<String, StoreEndpoints> peers) throws IOException;
}
