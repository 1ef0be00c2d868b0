package io.layerns.csi.export.sftp;

import java.net.InetAddress;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * How the node's SFTP export listens and whom it lets in.
 *
 * @param bindAddress the address to listen on, e.g. the node's InternalIP
 * @param port the TCP port, or 0 for any free port (see {@link SftpExportServer#address()})
 * @param hostKeyFile the node's key ({@link io.layerns.csi.identity.NodeKey}), the server's host
 *     key; made when missing and kept, so peers can pin it across restarts
 * @param clientKeys the public keys that may log in at first (the member nodes' own keys); {@link
 *     SftpExportServer#allowKeys} replaces them as membership changes
 * @param user the one user name clients must log in as
 * @param allowedClients when present, the only client addresses accepted (the member nodes); empty
 *     means that any address may try to authenticate
 */
public record SftpExportConfig(
    String bindAddress,
    int port,
    Path hostKeyFile,
    Set<PublicKey> clientKeys,
    String user,
    Optional<Set<InetAddress>> allowedClients) {

  /** The user name the node agents use with each other. */
  public static final String DEFAULT_USER = "layerns";

  public SftpExportConfig {
    Objects.requireNonNull(bindAddress, "bindAddress");
    Objects.requireNonNull(hostKeyFile, "hostKeyFile");
    clientKeys = Set.copyOf(clientKeys);
    Objects.requireNonNull(user, "user");
    allowedClients = allowedClients.map(Set::copyOf);
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port out of range: " + port);
    }
  }
}
