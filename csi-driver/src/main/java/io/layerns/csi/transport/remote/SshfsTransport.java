package io.layerns.csi.transport.remote;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Mounts a peer's layer with FUSE {@code sshfs} from its {@link
 * io.layerns.csi.export.sftp.SftpExportServer}, pinning the peer's host key.
 */
public final class SshfsTransport implements RemoteTransport {

  /** Seconds between keep-alives; with {@link #ALIVE_COUNT_MAX} a silent peer is dropped in 15s. */
  static final int ALIVE_INTERVAL_SECONDS = 5;

  static final int ALIVE_COUNT_MAX = 3;
  static final int CONNECT_TIMEOUT_SECONDS = 10;

  /** The ciphers ssh may use, in its order of preference; the same set the exports offer. */
  static final List<String> CIPHERS =
      List.of("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr");

  private final String user;
  private final Path identityFile;
  private final Path knownHostsDir;
  private final InetAddress bindAddress;

  /**
   * @param user the user the peers' SFTP servers accept
   * @param identityFile this node's own private key ({@link io.layerns.csi.identity.NodeKey}),
   *     which peers accept while this node is a member
   * @param knownHostsDir a folder of ours for one known_hosts file per peer
   */
  public SshfsTransport(String user, Path identityFile, Path knownHostsDir) {
    this(user, identityFile, knownHostsDir, null);
  }

  /**
   * @param bindAddress the node IP that connections to peers leave from, since peers' exports let
   *     in member node addresses only; null leaves the choice to the route
   */
  public SshfsTransport(
      String user, Path identityFile, Path knownHostsDir, InetAddress bindAddress) {
    this.bindAddress = bindAddress == null || bindAddress.isAnyLocalAddress() ? null : bindAddress;
    this.user = Objects.requireNonNull(user, "user");
    this.identityFile = identityFile.toAbsolutePath().normalize();
    this.knownHostsDir = knownHostsDir.toAbsolutePath().normalize();
    if (!user.matches("[a-z_][a-z0-9_-]{0,31}")) {
      throw new IllegalArgumentException("not a user name: " + user);
    }
    // Both paths go inside sshfs's comma-separated -o list, which has no escaping.
    for (Path p : List.of(this.identityFile, this.knownHostsDir)) {
      if (!p.toString().matches("[A-Za-z0-9/._+-]+")) {
        throw new IllegalArgumentException("path unsafe in an sshfs option: " + p);
      }
    }
  }

  @Override
  public String name() {
    return "sshfs";
  }

  @Override
  public String fsType() {
    return "fuse.sshfs";
  }

  /** Writes the peer's pinned host key where the mount command's {@code UserKnownHostsFile} is. */
  @Override
  public void prepare(Peer peer) throws IOException {
    if (peer.sshHostKey() == null) {
      throw new IllegalArgumentException("peer " + peer.node() + " has no SSH host key to pin");
    }
    Files.createDirectories(knownHostsDir);
    Path file = knownHostsFile(peer);
    Path tmp = Files.createTempFile(knownHostsDir, ".known_hosts-", ".tmp");
    Files.writeString(tmp, knownHostsLine(peer), StandardCharsets.UTF_8);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  @Override
  public List<String> mountCommand(Peer peer, Digest layer, Path target) {
    List<String> options =
        List.of(
            "ro",
            // Device nodes of a layer come back in a local layer above the mount (OverlayShims).
            "nodev",
            // Layers are full of absolute and ../ symlinks that resolve inside the pod's view;
            // Debian's sshfs rejects them unless told not to (contain_symlinks is its default).
            "no_contain_symlinks",
            // Pods run as any user: let them in, and let the kernel check the layer's own modes.
            "allow_other",
            "default_permissions",
            // Committed layers never change, so the page cache may keep what it read.
            "kernel_cache",
            "reconnect",
            // AES-GCM first, which the peer's export runs on AES instructions; ssh would pick
            // chacha20-poly1305, which the export no longer offers (see SftpExportServer). The
            // commas are escaped: the -o list is comma-separated, and libfuse unescapes them.
            "Ciphers=" + String.join("\\,", CIPHERS),
            // No max_read: the export answers at most 63 KiB a read, and sshfs 3.7 takes a short
            // read for the end of the file (with max_read=65536 files came out truncated).
            "ServerAliveInterval=" + ALIVE_INTERVAL_SECONDS,
            "ServerAliveCountMax=" + ALIVE_COUNT_MAX,
            "ConnectTimeout=" + CONNECT_TIMEOUT_SECONDS,
            "BatchMode=yes",
            "IdentitiesOnly=yes",
            "IdentityFile=" + identityFile,
            "UserKnownHostsFile=" + knownHostsFile(peer),
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            "port=" + peer.port());
    if (bindAddress != null) {
      options = new ArrayList<>(options);
      options.add("BindAddress=" + bindAddress.getHostAddress());
    }
    List<String> cmd = new ArrayList<>();
    cmd.add("sshfs");
    cmd.add(user + "@" + peer.hostForPath() + ":" + RemoteTransport.layerPath(layer));
    cmd.add(target.toAbsolutePath().normalize().toString());
    cmd.add("-o");
    cmd.add(String.join(",", options));
    return cmd;
  }

  /** The known_hosts line for the peer: ssh names a host on another port {@code [host]:port}. */
  static String knownHostsLine(Peer peer) {
    String name = peer.port() == 22 ? peer.host() : "[" + peer.host() + "]:" + peer.port();
    return name + " " + peer.sshHostKey() + "\n";
  }

  Path knownHostsFile(Peer peer) {
    return knownHostsDir.resolve(peer.node());
  }
}
