package io.layerns.csi.export.sftp;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * How the node's SFTP export listens and whom it lets in.
 *
 * @param bindAddress the address to listen on, e.g. the node's InternalIP
 * @param port the TCP port, or 0 for any free port (see {@link SftpExportServer#address()})
 * @param hostKeyFile the server's private host key; generated (ECDSA P-256) when missing and kept,
 *     so peers can pin it across restarts
 * @param authorizedKeysFile OpenSSH {@code authorized_keys} with the cluster's public key(s), e.g.
 *     from the Secret the operator issues; re-read when it changes
 * @param user the one user name clients must log in as
 * @param allowedClients when present, the only client addresses accepted (the member nodes); empty
 *     means that any address may try to authenticate
 */
public record SftpExportConfig(
    String bindAddress,
    int port,
    Path hostKeyFile,
    Path authorizedKeysFile,
    String user,
    Optional<Set<InetAddress>> allowedClients) {

  /** The user name the node agents use with each other. */
  public static final String DEFAULT_USER = "layerns";

  public SftpExportConfig {
    Objects.requireNonNull(bindAddress, "bindAddress");
    Objects.requireNonNull(hostKeyFile, "hostKeyFile");
    Objects.requireNonNull(authorizedKeysFile, "authorizedKeysFile");
    Objects.requireNonNull(user, "user");
    allowedClients = allowedClients.map(Set::copyOf);
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port out of range: " + port);
    }
  }
}
