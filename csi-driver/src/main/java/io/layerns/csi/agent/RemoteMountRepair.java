package io.layerns.csi.agent;

import io.layerns.csi.transport.remote.RemoteLayerMounts.DeadMount;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.util.Collection;
import java.util.Map;

/** Mounts again, where it can, the remote layer mounts that the node agent found dead. */
@FunctionalInterface
public interface RemoteMountRepair {

  /** Repairs nothing: the agent then only reports dead mounts. */
  RemoteMountRepair NONE = dead -> Map.of();

  /**
   * Repairs what it can of {@code dead}; a mount it cannot repair now (its peer is away, its daemon
   * lives and reconnects by itself) is left out and offered again at the next check.
   *
   * @return a sentence for the admin per repaired mount: what was mounted again, which volumes read
   *     again and which do not
   */
  Map<RemoteLayer, String> repair(Collection<DeadMount> dead);
}
