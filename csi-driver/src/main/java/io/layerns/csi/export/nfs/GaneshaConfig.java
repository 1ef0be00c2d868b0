package io.layerns.csi.export.nfs;

import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The nfs-ganesha configuration of the node's NFS export: NFSv4 over TCP only, one read-only export
 * per public layer of the store, open only to the member nodes' addresses.
 *
 * <p>NFS with {@code sys} security believes whatever uid a client claims, and root is not squashed
 * (pods read root-only files of their images): any client on a member's address reads every
 * exported tree. So only public layers are exported, each on its own (a private layer's tree is not
 * in ganesha's pseudo file system at all); private ones go to peers over the other transports.
 *
 * @param exportPath the store's {@code layers/} folder (real path); layer {@code hex} is its {@code
 *     sha256/<hex>}
 * @param pseudoPath where NFSv4 clients find it, e.g. {@code /layerns}; a layer is then at {@code
 *     /layerns/sha256/<hex>/diff}
 * @param bindAddress the address ganesha listens on
 * @param port the NFS port; clients name it ({@code port=} in the mount options), so there is no
 *     need for rpcbind, which NFSv4 does not use
 * @param clients the addresses or CIDR blocks that may mount it (the member nodes); empty means
 *     nobody
 * @param stateDir a private folder for ganesha's recovery data
 * @param layers the layers exported, by the hex of their digest, each with its export id (1 to
 *     65535; an id stays with its layer across reloads, since clients' file handles carry it)
 */
public record GaneshaConfig(
    Path exportPath,
    String pseudoPath,
    String bindAddress,
    int port,
    List<String> clients,
    Path stateDir,
    SortedMap<String, Integer> layers) {

  /** The largest export id ganesha takes (16 bits); 0 is its pseudo file system's root. */
  public static final int MAX_EXPORT_ID = 65535;

  private static final Pattern HEX = Pattern.compile("[a-f0-9]{64}");

  /** A configuration that exports no layer yet. */
  public GaneshaConfig(
      Path exportPath,
      String pseudoPath,
      String bindAddress,
      int port,
      List<String> clients,
      Path stateDir) {
    this(exportPath, pseudoPath, bindAddress, port, clients, stateDir, new TreeMap<>());
  }

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
    layers = Collections.unmodifiableSortedMap(new TreeMap<>(layers));
    Set<Integer> ids = new HashSet<>();
    for (Map.Entry<String, Integer> e : layers.entrySet()) {
      if (!HEX.matcher(e.getKey()).matches()) {
        throw new IllegalArgumentException("not a layer digest's hex: " + e.getKey());
      }
      if (e.getValue() < 1 || e.getValue() > MAX_EXPORT_ID || !ids.add(e.getValue())) {
        throw new IllegalArgumentException(
            "export id of layer " + e.getKey() + " out of range or taken: " + e.getValue());
      }
    }
  }

  /** The same configuration with other layers exported. */
  public GaneshaConfig withLayers(SortedMap<String, Integer> next) {
    return new GaneshaConfig(exportPath, pseudoPath, bindAddress, port, clients, stateDir, next);
  }

  /** The same configuration with other clients. */
  public GaneshaConfig withClients(List<String> next) {
    return new GaneshaConfig(exportPath, pseudoPath, bindAddress, port, next, stateDir, layers);
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
    for (Map.Entry<String, Integer> layer : layers.entrySet()) {
      export(b, layer.getValue(), layer.getKey());
    }
    return b.toString();
  }

  private void export(StringBuilder b, int id, String hex) {
    b.append("EXPORT {\n");
    b.append("    Export_Id = ").append(id).append(";\n");
    b.append("    Path = ").append(exportPath.resolve("sha256").resolve(hex)).append(";\n");
    b.append("    Pseudo = ").append(pseudoPath).append("/sha256/").append(hex).append(";\n");
    b.append("    Protocols = 4;\n");
    b.append("    Transports = TCP;\n");
    b.append("    Access_Type = None;\n");
    // Pods read the image as root too (e.g. mode 0600 root files), so root is not squashed; the
    // export is read-only to the member nodes, so root on a member cannot change anything, and it
    // holds public layers only, so root on a member reads nothing private.
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
  }
}
