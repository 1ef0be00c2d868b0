package io.layerns.csi;

import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryHosts;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The node plugin's settings, from {@code --name=value} arguments or else environment variables.
 *
 * @param csiEndpoint the CSI socket inside the plugin's container
 * @param kubeletEndpoint the same socket as the kubelet sees it on the host
 * @param registrationDir the kubelet's plugins_registry folder, or empty when a
 *     node-driver-registrar sidecar registers the plugin instead
 * @param nodeName this node's name, the CSI node id
 * @param stateDir where per-volume state and writable upper layers live
 * @param imageDir the folder of pre-unpacked images (see LocalDirectoryAssembler)
 * @param storeRoot the node's layer store
 * @param exportAddress the address peers reach this node's exports on (the node IP)
 * @param httpExportPort the HTTP export's port; 0 picks a free one
 * @param capacityBytes bytes of layers this node may keep; 0 means the store's free space
 * @param runAgent whether to run the node agent (off only for a plugin without an API server)
 * @param sftpExportPort the SFTP export's port; 0 picks a free one, -1 turns the export off
 * @param nfsExportPort nfs-ganesha's port
 * @param nfsClients addresses allowed to mount the NFS export; empty turns the export off
 * @param remoteMountCheck how often the agent checks that its remote layer mounts answer
 * @param fuseDaemonCgroup where FUSE daemons run: auto, none or a cgroup path (FuseDaemonCgroup)
 * @param cgroupRoot where the host's cgroup hierarchies are mounted in the plugin
 * @param registryHostsDir a containerd-style certs.d folder: how to reach each registry
 * @param healthPort the port of GET /healthz (the liveness probe), on the export address; 0 picks a
 *     free one
 * @param scrub how fast the agent re-verifies its copies, and within what period each
 * @param registryAllowedNetworks loopback, link-local or unspecified addresses registry requests
 *     may go to (none by default)
 * @param coldScrub how fast the cold keeper re-reads the bucket copies it keeps, and within what
 *     period each ({@code LAYERNS_COLD_SCRUB_BYTES_PER_SECOND}, {@code
 *     LAYERNS_COLD_SCRUB_PERIOD_SECONDS})
 * @param mirror containerd's registry mirror on this node ({@code LAYERNS_MIRROR_*} or {@code
 *     --mirror-address}, {@code --mirror-tag-max-age}, {@code --mirror-keep}; see {@link
 *     io.layerns.csi.mirror.MirrorServer})
 * @param containerdHosts the registries containerd pulls through this node's mirror, and where its
 *     host files go ({@code LAYERNS_MIRROR_REGISTRIES}, {@code LAYERNS_CONTAINERD_HOSTS_DIR})
 */
public record PluginConfig(
    Path csiEndpoint,
    Path kubeletEndpoint,
    Optional<Path> registrationDir,
    String nodeName,
    Path stateDir,
    Path imageDir,
    Path storeRoot,
    String exportAddress,
    int httpExportPort,
    long capacityBytes,
    boolean runAgent,
    int sftpExportPort,
    int nfsExportPort,
    java.util.List<String> nfsClients,
    java.time.Duration remoteMountCheck,
    String fuseDaemonCgroup,
    Path cgroupRoot,
    Path registryHostsDir,
    int healthPort,
    io.layerns.csi.agent.Scrubber.Settings scrub,
    RegistryAddresses registryAllowedNetworks,
    io.layerns.csi.mirror.MirrorServer.Settings mirror,
    io.layerns.csi.containerd.ContainerdHosts.Settings containerdHosts,
    io.layerns.csi.agent.Scrubber.Settings coldScrub) {

  /** Parses arguments, falling back on {@code env} (CSI_ENDPOINT, NODE_NAME, ...) and defaults. */
  public static PluginConfig parse(String[] args, Map<String, String> env) {
    Map<String, String> a = new HashMap<>();
    for (String arg : args) {
      if (!arg.startsWith("--") || !arg.contains("=")) {
        throw new IllegalArgumentException("expected --name=value, got " + arg);
      }
      a.put(arg.substring(2, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
    }
    String endpoint =
        value(a, env, "csi-endpoint", "CSI_ENDPOINT", "/csi/csi.sock").replaceFirst("^unix://", "");
    String kubeletEndpoint =
        value(
            a,
            env,
            "kubelet-registration-path",
            "DRIVER_REG_SOCK_PATH",
            "/var/lib/kubelet/plugins/csi.layerns.io/csi.sock");
    String registrationDir = value(a, env, "registration-dir", "REGISTRATION_DIR", "/registration");
    String nodeName = value(a, env, "node-name", "NODE_NAME", "");
    if (nodeName.isBlank()) {
      throw new IllegalArgumentException("--node-name or NODE_NAME is required");
    }
    return new PluginConfig(
        Path.of(endpoint),
        Path.of(kubeletEndpoint),
        registrationDir.isBlank() ? Optional.empty() : Optional.of(Path.of(registrationDir)),
        nodeName,
        Path.of(value(a, env, "state-dir", "STATE_DIR", "/var/lib/layerns/csi")),
        Path.of(value(a, env, "image-dir", "IMAGE_DIR", "/var/lib/layerns/images")),
        Path.of(value(a, env, "store-root", "STORE_ROOT", "/var/lib/layerns/store")),
        value(a, env, "export-address", "NODE_IP", "0.0.0.0"),
        Integer.parseInt(value(a, env, "http-export-port", "LAYERNS_HTTP_EXPORT_PORT", "7443")),
        Long.parseLong(value(a, env, "capacity-bytes", "CAPACITY_BYTES", "0")),
        Boolean.parseBoolean(value(a, env, "agent", "RUN_AGENT", "true")),
        Integer.parseInt(value(a, env, "sftp-export-port", "LAYERNS_SFTP_EXPORT_PORT", "7022")),
        Integer.parseInt(value(a, env, "nfs-export-port", "LAYERNS_NFS_EXPORT_PORT", "2049")),
        java.util.Arrays.stream(value(a, env, "nfs-clients", "NFS_CLIENTS", "").split(","))
            .map(String::trim)
            .filter(c -> !c.isEmpty())
            .toList(),
        java.time.Duration.ofSeconds(
            Long.parseLong(
                value(a, env, "remote-mount-check-seconds", "REMOTE_MOUNT_CHECK_SECONDS", "30"))),
        value(a, env, "fuse-daemon-cgroup", "LAYERNS_FUSE_DAEMON_CGROUP", "auto"),
        Path.of(value(a, env, "cgroup-root", "LAYERNS_CGROUP_ROOT", "/sys/fs/cgroup")),
        Path.of(
            value(
                a,
                env,
                "registry-hosts-dir",
                "REGISTRY_HOSTS_DIR",
                RegistryHosts.DEFAULT_DIR.toString())),
        Integer.parseInt(value(a, env, "health-port", "HEALTH_PORT", "9809")),
        new io.layerns.csi.agent.Scrubber.Settings(
            Long.parseLong(
                value(
                    a,
                    env,
                    "scrub-bytes-per-second",
                    "SCRUB_BYTES_PER_SECOND",
                    Long.toString(
                        io.layerns.csi.agent.Scrubber.Settings.DEFAULT.bytesPerSecond()))),
            java.time.Duration.ofSeconds(
                Long.parseLong(
                    value(
                        a,
                        env,
                        "scrub-period-seconds",
                        "SCRUB_PERIOD_SECONDS",
                        Long.toString(
                            io.layerns.csi.agent.Scrubber.Settings.DEFAULT
                                .period()
                                .toSeconds()))))),
        RegistryAddresses.parse(
            value(a, env, "registry-allowed-networks", RegistryAddresses.SETTING, "")),
        io.layerns.csi.mirror.MirrorServer.Settings.parse(mirrorSettings(a, env)),
        io.layerns.csi.containerd.ContainerdHosts.Settings.parse(
            withArgs(
                a,
                env,
                Map.of(
                    "mirror-registries",
                    io.layerns.csi.containerd.ContainerdHosts.Settings.REGISTRIES,
                    "containerd-hosts-dir",
                    io.layerns.csi.containerd.ContainerdHosts.Settings.DIR))),
        new io.layerns.csi.agent.Scrubber.Settings(
            Long.parseLong(
                value(
                    a,
                    env,
                    "cold-scrub-bytes-per-second",
                    "LAYERNS_COLD_SCRUB_BYTES_PER_SECOND",
                    Long.toString(io.layerns.csi.cold.ColdKeeper.DEFAULT_SCRUB.bytesPerSecond()))),
            java.time.Duration.ofSeconds(
                Long.parseLong(
                    value(
                        a,
                        env,
                        "cold-scrub-period-seconds",
                        "LAYERNS_COLD_SCRUB_PERIOD_SECONDS",
                        Long.toString(
                            io.layerns.csi.cold.ColdKeeper.DEFAULT_SCRUB.period().toSeconds()))))));
  }

  /** {@code env} with the variables that {@code --name=value} arguments set (name -> variable). */
  private static Map<String, String> withArgs(
      Map<String, String> args, Map<String, String> env, Map<String, String> names) {
    Map<String, String> m = new HashMap<>(env);
    names.forEach(
        (arg, variable) -> {
          if (args.containsKey(arg)) {
            m.put(variable, args.get(arg));
          }
        });
    return m;
  }

  /** The mirror's variables, {@code --mirror-address=...} and the like winning over env. */
  private static Map<String, String> mirrorSettings(
      Map<String, String> args, Map<String, String> env) {
    return withArgs(
        args,
        env,
        Map.of(
            "mirror-address", io.layerns.csi.mirror.MirrorServer.Settings.ADDRESS,
            "mirror-tag-max-age", io.layerns.csi.mirror.MirrorServer.Settings.TAG_MAX_AGE,
            "mirror-keep", io.layerns.csi.mirror.MirrorServer.Settings.KEEP));
  }

  private static String value(
      Map<String, String> args, Map<String, String> env, String arg, String var, String dflt) {
    return Optional.ofNullable(args.get(arg))
        .or(() -> Optional.ofNullable(env.get(var)))
        .orElse(dflt);
  }
}
