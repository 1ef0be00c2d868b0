package io.layerns.csi.transport.remote;

import io.layerns.csi.store.Digest;
import java.nio.file.Path;
import java.util.List;

/**
 * Mounts a peer's layer with the kernel NFSv4 client from its {@link
 * io.layerns.csi.export.nfs.NfsExport}.
 *
 * <p>Only the command line is tested: the build machines have no kernel NFS client, so these mounts
 * are not exercised end to end there (the export itself is read back with libnfs in NfsExportIT).
 */
public final class Nfs4Transport implements RemoteTransport {

  private final String pseudoRoot;

  /**
   * @param pseudoRoot the NFSv4 pseudo path the peers export their layers folder at, e.g. {@code
   *     /layerns}
   */
  public Nfs4Transport(String pseudoRoot) {
    if (!pseudoRoot.matches("(/[A-Za-z0-9._-]+)+") || pseudoRoot.contains("/..")) {
      throw new IllegalArgumentException("not a pseudo path: " + pseudoRoot);
    }
    this.pseudoRoot = pseudoRoot;
  }

  @Override
  public String name() {
    return "nfs";
  }

  @Override
  public String fsType() {
    return "nfs4";
  }

  @Override
  public void prepare(Peer peer) {
    // Nothing to pin: NFS clients are admitted by address on the export side.
  }

  @Override
  public List<String> mountCommand(Peer peer, Digest layer, Path target) {
    String options =
        String.join(
            ",",
            "ro",
            // NFS carries device numbers, but a layer's devices must never open on this host.
            "nodev",
            "vers=4.2",
            "proto=tcp",
            "port=" + peer.port(),
            // Read-only content: an I/O error after a minute beats a pod stuck in D state forever
            // when the holder is gone, and it is what health() looks for.
            "soft",
            "timeo=100",
            "retrans=5");
    return List.of(
        "mount",
        "-t",
        "nfs4",
        "-o",
        options,
        peer.hostForPath() + ":" + pseudoRoot + RemoteTransport.layerPath(layer),
        target.toAbsolutePath().normalize().toString());
  }
}
