package io.layerns.csi.agent;

import io.layerns.csi.transport.remote.RemoteLayerMounts.DeadMount;
import java.io.IOException;
import java.util.List;

/**
 * The remote layer mounts of this node that do not answer (the peer went away, its export stopped,
 * or sshfs died), so the agent can tell the admin: volumes that read them see I/O errors.
 */
@FunctionalInterface
public interface RemoteMountHealth {
  List<DeadMount> deadMounts() throws IOException;
}
