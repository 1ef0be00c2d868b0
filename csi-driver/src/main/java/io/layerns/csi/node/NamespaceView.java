package io.layerns.csi.node;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Digest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A node's view of its LayerNamespace at one moment: how it reaches layers it does not hold, and
 * which peers hold what.
 *
 * @param name the namespace, or null when the node is no member
 * @param transport how this node uses a layer only peers hold
 * @param peers the other member nodes, in a stable order (by name)
 * @param coldTier the namespace's cold tier, where layers no member holds are read before the
 *     registry; null when it has none
 */
public record NamespaceView(
    String name,
    Transport transport,
    List<PeerStore> peers,
    io.layerns.api.v1alpha1.ColdTier coldTier) {

  /** A node that is no member: no peers, so layers come from the store or the registry. */
  public static final NamespaceView NONE = new NamespaceView(null, Transport.Copy, List.of());

  public NamespaceView {
    peers = peers.stream().sorted(Comparator.comparing(PeerStore::node)).toList();
  }

  /** A namespace without a cold tier. */
  public NamespaceView(String name, Transport transport, List<PeerStore> peers) {
    this(name, transport, peers, null);
  }

  /**
   * A member node, as its LayerStore shows it.
   *
   * @param node the node name
   * @param endpoints its exports, from its LayerStore status (null when it has reported none)
   * @param present the digests it holds in state Present
   * @param owned the digests the operator told it to keep as an owner
   * @param privateLayers the layers it knows only through private images, by digest, with the
   *     registry repositories that hold each (its published {@code privateTo})
   */
  public record PeerStore(
      String node,
      StoreEndpoints endpoints,
      Set<String> present,
      Set<String> owned,
      Map<String, Set<String>> privateLayers) {
    public PeerStore {
      present = Set.copyOf(present);
      owned = Set.copyOf(owned);
      privateLayers = Map.copyOf(privateLayers);
    }

    /** A member that marks no layer private. */
    public PeerStore(
        String node, StoreEndpoints endpoints, Set<String> present, Set<String> owned) {
      this(node, endpoints, present, owned, Map.of());
    }

    public boolean holds(Digest layer) {
      return present.contains(layer.toString());
    }
  }

  /**
   * The registry repositories that member nodes say hold {@code layer} privately; empty when no
   * member marks it private. A mark counts whatever state the member's copy is in: the layer was
   * private there, and may be here by another way (a fetch by digest, a preload).
   */
  public Set<String> privateTo(Digest layer) {
    Set<String> out = new TreeSet<>();
    for (PeerStore p : peers) {
      out.addAll(p.privateLayers().getOrDefault(layer.toString(), Set.of()));
    }
    return out;
  }

  /**
   * The peers that hold a Present copy of {@code layer}: owners first, since their copy stays (a
   * volume reading a non-owner's copy keeps that copy from being dropped, which costs space), then
   * the others; by name within each group.
   */
  public List<PeerStore> holders(Digest layer) {
    List<PeerStore> out = new ArrayList<>();
    for (PeerStore p : peers) {
      if (p.holds(layer) && p.owned().contains(layer.toString())) {
        out.add(p);
      }
    }
    for (PeerStore p : peers) {
      if (p.holds(layer) && !p.owned().contains(layer.toString())) {
        out.add(p);
      }
    }
    return out;
  }
}
