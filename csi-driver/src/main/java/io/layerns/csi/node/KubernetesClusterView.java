package io.layerns.csi.node;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the node's view of the cluster from the API server, fresh on every call (a publish is rare
 * next to its mounts, and a stale view would point at copies already gone).
 *
 * <p>Membership, endpoints and holders all come from the LayerStores: the node's own spec names its
 * namespace and transport, and one list of the stores labelled with that namespace gives every
 * member's endpoints (status), Present copies (status), private marks (status) and ownerships
 * (spec). The Layer objects say the same, but they are the operator's aggregate of these very
 * statuses, one step later, and the node plugin's role may read LayerStores only.
 */
public final class KubernetesClusterView implements ClusterView {

  private static final Logger LOG = LoggerFactory.getLogger(KubernetesClusterView.class);
  private static final String OWNER = "Owner";

  private final KubernetesClient client;
  private final String nodeName;

  public KubernetesClusterView(KubernetesClient client, String nodeName) {
    this.client = client;
    this.nodeName = nodeName;
  }

  @Override
  public NamespaceView namespace() throws IOException {
    try {
      LayerStore own = client.resources(LayerStore.class).withName(nodeName).get();
      if (own == null || own.getSpec() == null || own.getSpec().namespace() == null) {
        return NamespaceView.NONE;
      }
      String ns = own.getSpec().namespace();
      Transport transport =
          own.getSpec().transport() == null ? Transport.Sshfs : own.getSpec().transport();
      List<NamespaceView.PeerStore> peers = new ArrayList<>();
      for (LayerStore s :
          client
              .resources(LayerStore.class)
              .withLabel(CrdConstants.LABEL_NAMESPACE, ns)
              .list()
              .getItems()) {
        String node = s.getMetadata().getName();
        // The label is the operator's; the spec says the same and is what the agent obeys.
        if (node.equals(nodeName) || s.getSpec() == null || !ns.equals(s.getSpec().namespace())) {
          continue;
        }
        peers.add(peerOf(node, s));
      }
      return new NamespaceView(ns, transport, peers, own.getSpec().coldTier());
    } catch (KubernetesClientException e) {
      throw new IOException(
          "could not read the LayerStores of node " + nodeName + "'s namespace: " + e.getMessage(),
          e);
    }
  }

  private static NamespaceView.PeerStore peerOf(String node, LayerStore s) {
    Set<String> present = new HashSet<>();
    Map<String, Set<String>> privateLayers = new HashMap<>();
    if (s.getStatus() != null && s.getStatus().layers() != null) {
      for (HeldLayer h : s.getStatus().layers()) {
        if (h.state() == CopyState.Present) {
          present.add(h.digest());
        }
        if (h.privateTo() != null && !h.privateTo().isEmpty()) {
          privateLayers.put(h.digest(), Set.copyOf(h.privateTo()));
        }
      }
    }
    Set<String> owned = new HashSet<>();
    if (s.getSpec().layers() != null) {
      for (AssignedLayer a : s.getSpec().layers()) {
        if (OWNER.equals(a.reason())) {
          owned.add(a.digest());
        }
      }
    }
    return new NamespaceView.PeerStore(
        node,
        s.getStatus() == null ? null : s.getStatus().endpoints(),
        present,
        owned,
        privateLayers);
  }
}
