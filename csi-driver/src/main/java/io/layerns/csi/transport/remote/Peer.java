package io.layerns.csi.transport.remote;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A member node that holds a layer this node wants to read remotely.
 *
 * @param node the Kubernetes node name; names the mount point, so it must be a DNS subdomain
 * @param host the address its export listens on (IPv4, IPv6 or a host name)
 * @param port the export's TCP port (SFTP or NFS)
 * @param sshHostKey the SFTP server's host public key in OpenSSH form ({@code type base64}), which
 *     the consumer pins; null for transports that have none (NFS)
 */
public record Peer(String node, String host, int port, String sshHostKey) {

  private static final Pattern NODE = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
  private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.:-]{1,253}");
  private static final Pattern HOST_KEY = Pattern.compile("[a-z0-9@.-]+ [A-Za-z0-9+/=]+");

  public Peer {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(host, "host");
    if (!NODE.matcher(node).matches() || node.contains("..")) {
      throw new IllegalArgumentException("not a node name: " + node);
    }
    // The host goes into a command line and an ssh option string: nothing but address characters.
    if (!HOST.matcher(host).matches()) {
      throw new IllegalArgumentException("not a host address: " + host);
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port out of range: " + port);
    }
    if (sshHostKey != null && !HOST_KEY.matcher(sshHostKey.strip()).matches()) {
      throw new IllegalArgumentException("not an OpenSSH public key: " + sshHostKey);
    }
    sshHostKey = sshHostKey == null ? null : sshHostKey.strip();
  }

  /** A peer reached without an SSH host key (the NFS transport). */
  public static Peer of(String node, String host, int port) {
    return new Peer(node, host, port, null);
  }

  /** The host as ssh, sshfs and mount.nfs want it next to a {@code :path}: IPv6 in brackets. */
  String hostForPath() {
    return host.indexOf(':') >= 0 ? "[" + host + "]" : host;
  }
}
