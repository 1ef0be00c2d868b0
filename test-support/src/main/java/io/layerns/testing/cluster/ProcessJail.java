package io.layerns.testing.cluster;

import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every process of a test cluster in one cgroup tree, so that nothing outlives it. A real
 * kubelet and containerd leave processes that are not their children (containerd's shims, the
 * containers), which a parent-child watchdog cannot reach. Every process the cluster starts joins
 * {@code /sys/fs/cgroup/pids/<name>}; the kubelets' {@code cgroupRoot}s (where runc puts the
 * containers) live below it in every v1 hierarchy. The reaper kills everything in the tree and
 * removes it: on {@link #close()}, and, through a {@link ManagedProcess} whose lifeline is this
 * JVM, when the JVM dies however it dies. Mounts and network namespaces need no reaper: they live
 * in namespaces that die with the last process in them.
 */
public final class ProcessJail implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ProcessJail.class);
  private static final Path CGROUPS = Path.of("/sys/fs/cgroup");

  /**
   * Names of every test cluster's tree start with this, then the owning JVM's pid, so a stale one
   * can be recognised. Trees named {@code layerns-cluster-<id>} are those of older checkouts, which
   * reaped every tree of that prefix, live or not: a new prefix keeps the two apart.
   */
  static final String PREFIX = "layerns-testcluster-";

  // $1: the tree's name, $2: a folder to delete once nothing runs. Kills until the tree is empty
  // (a process may fork while it is being killed), then removes the tree in every hierarchy.
  private static final String REAP =
      """
      tree="$1"; work="${2:-}"
      for _ in $(seq 100); do
        pids=$(find "/sys/fs/cgroup/pids/$tree" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
        [ -z "$pids" ] && break
        kill -9 $pids 2>/dev/null || true
        sleep 0.1
      done
      for h in /sys/fs/cgroup/*/; do
        [ -d "$h$tree" ] && find "$h$tree" -depth -type d -exec rmdir {} + 2>/dev/null || true
      done
      if [ -n "$work" ]; then
        [ -f "$work/reap-also" ] && while read -r d; do rm -rf "$d"; done < "$work/reap-also"
        rm -rf "$work"
      fi
      """;

  private final String name;
  private final Path workDir;
  private final ManagedProcess reaper;

  private ProcessJail(String name, Path workDir, ManagedProcess reaper) {
    this.name = name;
    this.workDir = workDir;
    this.reaper = reaper;
  }

  /** Creates the tree {@code name} and its reaper; {@code workDir} is deleted with it. */
  static ProcessJail create(String name, Path workDir) throws IOException {
    removeStale();
    for (Path hierarchy : hierarchies()) {
      makeCgroup(hierarchy, name);
    }
    Path script = workDir.resolve("reap.sh");
    Files.writeString(script, REAP);
    // The reaper waits; the watchdog's TERM (this JVM gone, or close()) makes it reap.
    ManagedProcess reaper =
        ManagedProcess.start(
            "reaper",
            List.of(
                "bash",
                "-c",
                "trap 'bash \"$0\" \"$1\" \"$2\"; exit 0' TERM; while :; do sleep 3600 & wait $!; done",
                script.toString(),
                name,
                workDir.toString()),
            Files.createDirectories(workDir.resolve("logs")).resolve("reaper.log"));
    return new ProcessJail(name, workDir, reaper);
  }

  /**
   * A tree's name for a cluster of this JVM: the JVM's pid is in it, so that {@link #removeStale}
   * can tell a tree whose owner is gone from one that another JVM's cluster runs in now.
   */
  static String treeName(String id) {
    return PREFIX + ProcessHandle.current().pid() + "-" + id;
  }

  /**
   * Trees of earlier runs whose reaper could not run (both killed at once): those whose owning JVM
   * is gone. Trees of live JVMs are other clusters running now on this machine, and trees named
   * without an owner are left alone too: their owner cannot be told.
   */
  static void removeStale() {
    try (var dirs = Files.list(CGROUPS.resolve("pids"))) {
      for (Path dir : dirs.filter(d -> d.getFileName().toString().startsWith(PREFIX)).toList()) {
        String tree = dir.getFileName().toString();
        String owner = tree.substring(PREFIX.length()).split("-")[0];
        if (!owner.matches("[0-9]+")
            || ProcessHandle.of(Long.parseLong(owner)).map(ProcessHandle::isAlive).orElse(false)) {
          continue;
        }
        LOG.warn("removing the stale test cluster cgroup tree {} (its JVM is gone)", tree);
        HostCommands.run(List.of("bash", "-c", REAP, "reap", tree));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot list " + CGROUPS.resolve("pids"), e);
    }
  }

  /** The tree's name; kubelets' cgroupRoots are {@code /<name>/<node>}. */
  public String name() {
    return name;
  }

  /** Creates {@code /<name>/<child>} in every hierarchy (a kubelet's cgroupRoot). */
  void createChild(String child) {
    for (Path hierarchy : hierarchies()) {
      makeCgroup(hierarchy, name + "/" + child);
    }
  }

  /** {@code command}, made to join the tree before it starts. */
  List<String> wrap(List<String> command) {
    return wrap(name, command);
  }

  /** {@code command}, made to join {@code /<name>/<child>} (see {@link #createChild}). */
  List<String> wrapIn(String child, List<String> command) {
    return wrap(name + "/" + child, command);
  }

  private static List<String> wrap(String cgroup, List<String> command) {
    List<String> wrapped = new ArrayList<>();
    wrapped.add("bash");
    wrapped.add("-c");
    wrapped.add("echo $$ > \"$0\" && exec \"$@\"");
    wrapped.add(CGROUPS.resolve("pids").resolve(cgroup).resolve("cgroup.procs").toString());
    wrapped.addAll(command);
    return wrapped;
  }

  /** Kills every process in {@code /<name>/<child>}, as pulling a node's power cord would. */
  void kill(String child) {
    HostCommands.bash(
        """
        for _ in $(seq 100); do
          pids=$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
          [ -z "$pids" ] && exit 0
          kill -9 $pids 2>/dev/null || true
          sleep 0.1
        done
        echo "processes left in $1: $pids" >&2; exit 1
        """,
        CGROUPS.resolve("pids").resolve(name).resolve(child).toString());
  }

  /** Makes the reaper delete {@code dir} too (e.g. the control plane's folder). */
  void alsoDelete(Path dir) throws IOException {
    Files.writeString(
        workDir.resolve("reap-also"),
        dir + "\n",
        java.nio.file.StandardOpenOption.CREATE,
        java.nio.file.StandardOpenOption.APPEND);
  }

  /** How many processes run in the tree now. */
  public int processCount() {
    String out =
        HostCommands.run(
            List.of(
                "bash",
                "-c",
                "find \"$0\" -name cgroup.procs -exec cat {} + | wc -l",
                CGROUPS.resolve("pids").resolve(name).toString()));
    return Integer.parseInt(out.trim());
  }

  private static List<Path> hierarchies() {
    try (var dirs = Files.list(CGROUPS)) {
      // cgroup v1 hierarchies only; the kubelets here run with the cgroupfs driver on v1.
      return dirs.filter(d -> !d.getFileName().toString().equals("unified"))
          .filter(d -> Files.exists(d.resolve("cgroup.procs")))
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new IllegalStateException("cannot list " + CGROUPS, e);
    }
  }

  private static void makeCgroup(Path hierarchy, String relative) {
    Path dir = hierarchy;
    for (String part : relative.split("/")) {
      Path parent = dir;
      dir = dir.resolve(part);
      try {
        if (Files.isDirectory(dir)) {
          continue;
        }
        Files.createDirectory(dir);
        // A new cpuset has no CPUs or memory nodes: no task could join it.
        if (Files.exists(dir.resolve("cpuset.cpus"))) {
          Files.writeString(
              dir.resolve("cpuset.cpus"), Files.readString(parent.resolve("cpuset.cpus")).trim());
          Files.writeString(
              dir.resolve("cpuset.mems"), Files.readString(parent.resolve("cpuset.mems")).trim());
        }
      } catch (IOException e) {
        throw new IllegalStateException("cannot create cgroup " + dir, e);
      }
    }
  }

  /** Kills everything in the tree and removes it and the work folder; waits until done. */
  @Override
  public void close() {
    HostCommands.run(List.of("bash", "-c", REAP, "reap", name, workDir.toString()));
    reaper.close();
  }
}
