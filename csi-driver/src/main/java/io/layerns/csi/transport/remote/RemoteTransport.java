package io.layerns.csi.transport.remote;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** How one transport mounts a peer's copy of a layer: the command line and its mount type. */
public sealed interface RemoteTransport permits SshfsTransport, Nfs4Transport {

  /** A short name, used as a folder name under the state directory ({@code sshfs}, {@code nfs}). */
  String name();

  /** The file system type its mounts have in mountinfo, to recognise them after a restart. */
  String fsType();

  /** Writes whatever the mount command needs on disk for this peer (e.g. a known_hosts file). */
  void prepare(Peer peer) throws IOException;

  /** The command that mounts {@code peer}'s copy of {@code layer} read-only at {@code target}. */
  List<String> mountCommand(Peer peer, Digest layer, Path target);

  /** The layer's directory as the peer exports it, relative to the export root. */
  static String layerPath(Digest layer) {
    return "/sha256/" + layer.hex() + "/diff";
  }
}
