package io.layerns.csi.transport.remote;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the FUSE daemons of remote mounts (sshfs and the ssh it runs) live: in a cgroup of their
 * own beside the kubelet's pods, not in the node plugin's container. When a container stops, its
 * runtime kills every process in the container's cgroup; a DaemonSet update would then kill the
 * daemons and every pod reading through them would get "Transport endpoint is not connected". Kept
 * apart, they outlive the plugin (the way mountpoint-s3-csi and JuiceFS keep their FUSE daemons out
 * of the plugin's lifetime), and the restarted plugin adopts their mounts from the mount table. The
 * plugin's pod needs {@code hostPID} (a private PID namespace would take the daemons with it) and
 * the host's cgroup file system (manifests/node-plugin-daemonset.yaml).
 *
 * @param cgroupRoot where the host's cgroup hierarchies are mounted in the plugin
 * @param path the daemons' cgroup, relative to each hierarchy's root; empty to leave them where the
 *     plugin is (a plugin run as a host process: its children already outlive it)
 */
public record FuseDaemonCgroup(Path cgroupRoot, Optional<String> path) {
  private static final Logger LOG = LoggerFactory.getLogger(FuseDaemonCgroup.class);

  /** The cgroup's name beside {@code kubepods}. */
  static final String NAME = "layerns-fuse";

  /** Daemons stay in the plugin's cgroup. */
  public static FuseDaemonCgroup none() {
    return new FuseDaemonCgroup(Path.of("/sys/fs/cgroup"), Optional.empty());
  }

  /**
   * From the {@code --fuse-daemon-cgroup} setting: {@code auto} (a sibling of the kubelet's {@code
   * kubepods} cgroup, found from this process's own cgroup), {@code none}, or a path.
   */
  public static FuseDaemonCgroup of(String setting, Path cgroupRoot, String procSelfCgroup) {
    return switch (setting) {
      case "none", "" -> none();
      case "auto" -> new FuseDaemonCgroup(cgroupRoot, besideKubepods(procSelfCgroup));
      default -> {
        if (!setting.startsWith("/") || setting.contains("..")) {
          throw new IllegalArgumentException(
              "--fuse-daemon-cgroup must be auto, none or an absolute cgroup path, not " + setting);
        }
        yield new FuseDaemonCgroup(cgroupRoot, Optional.of(setting));
      }
    };
  }

  /**
   * {@code <what is above kubepods>/layerns-fuse}, from the lines of {@code /proc/self/cgroup};
   * empty when this process is not in a pod's cgroup. With the cgroupfs driver the pod's cgroup is
   * {@code <cgroupRoot>/kubepods/<qos>/pod<uid>/<container>}; with systemd's, {@code
   * /kubepods.slice/...}.
   */
  static Optional<String> besideKubepods(String procSelfCgroup) {
    String chosen = null;
    for (String line : procSelfCgroup.split("\n")) {
      String[] parts = line.split(":", 3);
      if (parts.length < 3) {
        continue;
      }
      // v1: the pids controller's line; v2 only: "0::<path>".
      if (List.of(parts[1].split(",")).contains("pids")
          || (parts[0].equals("0") && chosen == null)) {
        chosen = parts[2].trim();
      }
    }
    if (chosen == null) {
      return Optional.empty();
    }
    int kubepods = chosen.indexOf("/kubepods");
    if (kubepods < 0) {
      return Optional.empty();
    }
    return Optional.of(chosen.substring(0, kubepods) + "/" + NAME);
  }

  /** Creates the cgroup in every hierarchy; returns the {@code cgroup.procs} files to join. */
  List<Path> prepare() throws IOException {
    if (path.isEmpty()) {
      return List.of();
    }
    List<Path> procs = new ArrayList<>();
    String relative = path.get().substring(1);
    if (Files.exists(cgroupRoot.resolve("cgroup.controllers"))) {
      procs.add(create(cgroupRoot, relative)); // cgroup v2: one hierarchy
    } else {
      try (var hierarchies = Files.list(cgroupRoot)) {
        for (Path h : hierarchies.sorted().toList()) {
          // Every hierarchy, the hybrid layout's "unified" one too: the kubelet removes the pod's
          // cgroup in each, and a daemon left in any of them keeps the pod from going.
          if (Files.exists(h.resolve("cgroup.procs"))) {
            procs.add(create(h, relative));
          }
        }
      }
    }
    if (procs.isEmpty()) {
      throw new IOException("no cgroup hierarchy under " + cgroupRoot + " for the FUSE daemons");
    }
    LOG.info("FUSE daemons run in cgroup {} ({} hierarchies)", path.get(), procs.size());
    return procs;
  }

  private static Path create(Path hierarchy, String relative) throws IOException {
    Path dir = hierarchy.resolve(relative);
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir);
      // A new v1 cpuset has no CPUs or memory nodes until given its parent's.
      if (Files.exists(dir.resolve("cpuset.cpus"))) {
        Files.writeString(
            dir.resolve("cpuset.cpus"), Files.readString(dir.resolveSibling("cpuset.cpus")).trim());
        Files.writeString(
            dir.resolve("cpuset.mems"), Files.readString(dir.resolveSibling("cpuset.mems")).trim());
      }
    }
    return dir.resolve("cgroup.procs");
  }

  /** {@code command}, made to join the cgroups in {@code procs} before it starts. */
  static List<String> wrap(List<Path> procs, List<String> command) {
    if (procs.isEmpty()) {
      return command;
    }
    List<String> wrapped = new ArrayList<>();
    wrapped.add("sh");
    wrapped.add("-c");
    // $1 = how many cgroup.procs files follow; then the files; then the command.
    wrapped.add(
        "n=$1; shift; while [ \"$n\" -gt 0 ]; do echo $$ > \"$1\" || exit 1; shift; n=$((n-1));"
            + " done; exec \"$@\"");
    wrapped.add("sh");
    wrapped.add(Integer.toString(procs.size()));
    procs.forEach(p -> wrapped.add(p.toString()));
    wrapped.addAll(command);
    return wrapped;
  }
}
