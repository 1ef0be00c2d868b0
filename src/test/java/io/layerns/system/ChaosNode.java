package io.layerns.system;

import static org.awaitility.Awaitility.await;

import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One node of the chaos test: the real node plugin as its own process (node agent, store, HTTP and
 * SFTP exports, CSI socket) on its own loopback address, and the kubelet's calls to it. Its export
 * ports stay the same across restarts, as a DaemonSet pod's host ports do, so that peers' sshfs
 * mounts can reconnect to it.
 */
final class ChaosNode implements AutoCloseable {
  final String name;
  final String address;
  final Path dir;
  final Path store;
  final Path kubeletDir;
  private final int httpPort;
  private final int sftpPort;
  private ManagedProcess plugin;
  private KubeletCsi csi;

  private ChaosNode(String name, String address, Path dir) throws IOException {
    this.name = name;
    this.address = address;
    this.dir = Files.createDirectories(dir);
    this.store = dir.resolve("store");
    this.kubeletDir = Files.createDirectories(dir.resolve("kubelet"));
    this.httpPort = freePort(address);
    this.sftpPort = freePort(address);
  }

  /**
   * Starts the plugin of node {@code name} on {@code address} (which its Node must list). It makes
   * its own key pair and keeps it in its state folder across restarts.
   */
  static ChaosNode start(ControlPlane cp, String name, String address, Path dir)
      throws IOException {
    ChaosNode node = new ChaosNode(name, address, dir);
    node.startPlugin(cp);
    return node;
  }

  /** How often each chaos node's scrub re-reads every copy. */
  static final Duration SCRUB_PERIOD = Duration.ofSeconds(10);

  /** Starts the plugin process and waits until its CSI socket answers Probe. */
  void startPlugin(ControlPlane cp) throws IOException {
    Path socket = dir.resolve("csi.sock");
    Files.deleteIfExists(socket);
    plugin =
        PluginProcess.start(
            cp,
            name,
            address,
            dir,
            store,
            "--http-export-port=" + httpPort,
            "--sftp-export-port=" + sftpPort,
            // Scaled down from a day: rot is found within a few steps, and the status write each
            // verification costs stays modest for the control plane on a small machine.
            "--scrub-period-seconds=" + SCRUB_PERIOD.toSeconds(),
            "--scrub-bytes-per-second=" + (64 << 20));
    ManagedProcess started = plugin;
    await(name + "'s plugin answers on its CSI socket")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .ignoreExceptions()
        .until(
            () -> {
              if (!started.isAlive()) {
                throw new AssertionError(name + "'s plugin exited:\n" + started.logTail(40));
              }
              if (!Files.exists(socket)) {
                return false;
              }
              if (csi == null) {
                csi = new KubeletCsi(socket, kubeletDir);
              }
              return csi.probe();
            });
  }

  /** Kills the plugin with SIGKILL, as a crash or an OOM kill would; mounts stay. */
  void kill() {
    plugin.kill();
    if (csi != null) {
      csi.close();
      csi = null;
    }
  }

  KubeletCsi csi() {
    return csi;
  }

  /** The plugin's log, for failure messages. */
  String logTail(int lines) {
    return plugin == null ? "(no plugin)" : plugin.logTail(lines);
  }

  /** Every plugin log this node wrote, across restarts. */
  Path logs() {
    return dir.resolve("logs");
  }

  /**
   * How many times this node's plugin refused bytes from a peer because their digest was wrong,
   * from its logs (one line per refused attempt).
   */
  int corruptRefusals() throws IOException {
    if (!Files.isDirectory(logs())) {
      return 0;
    }
    int count = 0;
    try (var files = Files.list(logs())) {
      for (Path log : files.toList()) {
        try (var lines = Files.lines(log)) {
          count +=
              (int) lines.filter(l -> l.contains("from peer") && l.contains("has digest")).count();
        }
      }
    }
    return count;
  }

  private static int freePort(String address) throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(address))) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() {
    if (csi != null) {
      csi.close();
      csi = null;
    }
    if (plugin != null) {
      plugin.close();
    }
  }
}
