package io.layerns.csi.agent;

import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.transport.remote.Peer;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.RemoteLayerMounts.DeadMount;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.io.IOException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Repairs remote layer mounts whose FUSE daemon is gone (killed, OOM, taken along by a container
 * restart): mounts each again in place from the peer that holds the layer, then mounts the
 * read-only volumes that read it again over their targets, since a volume's overlay keeps the dead
 * mount it was made on. The new overlay reaches containers that mount the volume with {@code
 * HostToContainer} propagation; docs/limits.md says what stays broken.
 */
public final class DeadMountRepair implements RemoteMountRepair {

  private static final Logger LOG = LoggerFactory.getLogger(DeadMountRepair.class);

  private static final String REMOUNTED_SAID = "remounted";

  private final RemoteLayerMounts mounts;
  private final Transport transport;
  private final ClusterView cluster;
  private final NodeService volumes;

  /**
   * @param mounts the node's remote mounts of {@code transport}
   * @param cluster where the peers' endpoints are read (their LayerStores)
   * @param volumes the Node service, which mounts the volumes again
   */
  public DeadMountRepair(
      RemoteLayerMounts mounts, Transport transport, ClusterView cluster, NodeService volumes) {
    this.mounts = mounts;
    this.transport = transport;
    this.cluster = cluster;
    this.volumes = volumes;
  }

  @Override
  public Map<RemoteLayer, String> repair(Collection<DeadMount> dead) {
    if (dead.isEmpty()) {
      return Map.of();
    }
    NamespaceView ns;
    try {
      ns = cluster.namespace();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot repair dead remote mounts: the namespace is not readable: {}", e.toString());
      return Map.of();
    }
    Map<RemoteLayer, Set<String>> remounted = new LinkedHashMap<>();
    for (DeadMount d : dead) {
      Optional<Peer> peer =
          ns.peers().stream()
              .filter(p -> p.node().equals(d.layer().node()))
              .findFirst()
              .flatMap(p -> StoreVolumeAssembler.peerFor(transport, p));
      if (peer.isEmpty()) {
        LOG.warn(
            "cannot mount {} again: node {} reports no {} export in this namespace",
            d.mountPoint(),
            d.layer().node(),
            transport);
        continue;
      }
      try {
        mounts
            .remountDead(peer.get(), d.layer().layer())
            .ifPresent(holders -> remounted.put(d.layer(), holders));
      } catch (IOException | RuntimeException e) {
        LOG.warn("could not mount {} again: {}", d.mountPoint(), e.getMessage());
      }
    }
    // The volumes only once every mount they read is back: an overlay cannot be made on a dead one.
    Map<String, String> outcomes = new TreeMap<>();
    remounted
        .values()
        .forEach(holders -> holders.forEach(v -> outcomes.computeIfAbsent(v, this::remount)));
    Map<RemoteLayer, String> told = new LinkedHashMap<>();
    remounted.forEach((layer, holders) -> told.put(layer, describe(layer, holders, outcomes)));
    return told;
  }

  /** What became of one volume, as the event says it. */
  private String remount(String volumeId) {
    try {
      return switch (volumes.remount(volumeId)) {
        case REMOUNTED -> REMOUNTED_SAID;
        case WRITABLE -> "not repaired (writable)";
        case NOT_PUBLISHED -> "not repaired (not published or busy)";
        case TOO_MANY_STACKED -> "not repaired (too many overlays stacked at its target)";
      };
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not mount volume {} again: {}", volumeId, e.getMessage());
      return "not repaired (" + e.getMessage() + ")";
    }
  }

  private String describe(RemoteLayer layer, Set<String> holders, Map<String, String> outcomes) {
    // "remounted" first, then what was not repaired and why.
    Map<String, Set<String>> byOutcome =
        new TreeMap<>(
            java.util.Comparator.comparing((String o) -> !o.equals(REMOUNTED_SAID))
                .thenComparing(o -> o));
    for (String v : holders) {
      byOutcome.computeIfAbsent(outcomes.get(v), k -> new TreeSet<>()).add(v);
    }
    String volumesSaid =
        byOutcome.entrySet().stream()
            .map(e -> e.getKey() + ": " + String.join(", ", e.getValue()))
            .collect(Collectors.joining("; "));
    return "layer "
        + layer.layer()
        + " from node "
        + layer.node()
        + " mounted again at "
        + mounts.mountPoint(layer.node(), layer.layer())
        + " (its FUSE daemon was gone); volumes "
        + volumesSaid
        + ". Containers that mount a remounted volume with HostToContainer propagation read"
        + " again; other pods of these volumes must be restarted.";
  }
}
