package io.layerns.csi.export.nfs;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The nfs-ganesha configuration of the node's NFS export: NFSv4 over TCP only, one read-only export
 * of the store's layers folder, open only to the member nodes' addresses.
 *
 * @param exportPath the folder exported, the store's {@code layers/} (real path)
 * @param pseudoPath where NFSv4 clients find it, e.g. {@code /layerns}; a layer is then at {@code
 *     /layerns/sha256/<hex>/diff}
 * @param bindAddress the address ganesha listens on
 * @param port the NFS port; clients name it ({@code port=} in the mount options), so there is no
 *     need for rpcbind, which NFSv4 does not use
 * @param clients the addresses or CIDR blocks that may mount it (the member nodes); empty means
 *     nobody
 * @param stateDir a private folder for ganesha's recovery data
 */
public record GaneshaConfig(
    Path exportPath,
    String pseudoPath,
    String bindAddress,
    int port,
    List<String> clients,
    Path stateDir) {

  private static final Pattern PSEUDO = Pattern.compile("(/[A-Za-z0-9._-]+)+");
  private static final Pattern ADDRESS = Pattern.compile("[0-9A-Fa-f.:]+(/[0-9]{1,3})?");
  private static final Pattern SAFE_PATH = Pattern.compile("/[A-Za-z0-9/._+-]*");

  public GaneshaConfig {
    clients = List.copyOf(clients);
    // Everything below is written into a config file: accept only what cannot break its syntax.
    if (!PSEUDO.matcher(pseudoPath).matches() || pseudoPath.contains("/..")) {
      throw new IllegalArgumentException("not a pseudo path: " + pseudoPath);
    }
    if (!ADDRESS.matcher(bindAddress).matches()) {
      throw new IllegalArgumentException("not an IP address: " + bindAddress);
    }
    for (String c : clients) {
      if (!ADDRESS.matcher(c).matches()) {
        throw new IllegalArgumentException("not an IP address or CIDR block: " + c);
      }
    }
    for (Path p : List.of(exportPath, stateDir)) {
      if (!SAFE_PATH.matcher(p.toString()).matches()) {
        throw new IllegalArgumentException("path unsafe in ganesha.conf: " + p);
      }
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port out of range: " + port);
    }
  }

  /** The configuration file's text. */
  public String render() {
    StringBuilder b = new StringBuilder();
    b.append("# Written by the layerns node agent; changes here are overwritten.\n");
    b.append("NFS_CORE_PARAM {\n");
    // NFSv4 only: no NLM, rquota or mountd, hence no rpcbind registration either.
    b.append("    Protocols = 4;\n");
    b.append("    Enable_NLM = false;\n");
    b.append("    Enable_RQUOTA = false;\n");
    b.append("    Enable_UDP = false;\n");
    b.append("    Bind_addr = ").append(bindAddress).append(";\n");
    b.append("    NFS_Port = ").append(port).append(";\n");
    b.append("}\n");
    b.append("NFSV4 {\n");
    // 4.0 too: libnfs (and older kernels) speak only that.
    b.append("    Minor_Versions = 0, 1, 2;\n");
    // A read-only export has no locks or delegations to reclaim after a restart.
    b.append("    Graceless = true;\n");
    // Layers carry numeric owners; names would be mapped differently on each node.
    b.append("    Only_Numeric_Owners = true;\n");
    b.append("    RecoveryBackend = fs;\n");
    b.append("    RecoveryRoot = ").append(stateDir.resolve("recovery")).append(";\n");
    b.append("}\n");
    b.append("NFS_KRB5 {\n    Active_krb5 = false;\n}\n");
    // Whatever is not granted below is refused.
    b.append("EXPORT_DEFAULTS {\n    Access_Type = None;\n}\n");
    b.append("EXPORT {\n");
    b.append("    Export_Id = 1;\n");
    b.append("    Path = ").append(exportPath).append(";\n");
    b.append("    Pseudo = ").append(pseudoPath).append(";\n");
    b.append("    Protocols = 4;\n");
    b.append("    Transports = TCP;\n");
    b.append("    Access_Type = None;\n");
    // Pods read the image as root too (e.g. mode 0600 root files), so root is not squashed; the
    // export is read-only to the member nodes, so root on a member cannot change anything.
    b.append("    Squash = No_Root_Squash;\n");
    b.append("    SecType = sys;\n");
    b.append("    FSAL {\n        Name = VFS;\n    }\n");
    if (!clients.isEmpty()) {
      b.append("    CLIENT {\n");
      b.append("        Clients = ").append(String.join(", ", clients)).append(";\n");
      b.append("        Access_Type = RO;\n");
      b.append("        Protocols = 4;\n");
      b.append("    }\n");
    }
    b.append("}\n");
    return b.toString();
  }
}
