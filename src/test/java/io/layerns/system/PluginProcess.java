package io.layerns.system;

import io.layerns.csi.CsiPluginMain;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The real node plugin (CSI services, node agent, exports) as its own process, as on a node. */
final class PluginProcess {
  private PluginProcess() {}

  /** Starts {@link CsiPluginMain} for {@code node}, with its files under {@code dir}. */
  static ManagedProcess start(
      ControlPlane cp, String node, String address, Path dir, Path store, String... extraArgs)
      throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        new ArrayList<>(
            List.of(
                "env",
                "KUBECONFIG=" + cp.kubeconfig(),
                java.toString(),
                // Small and quick to start: several plugins share a 2-core machine in the tests.
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path"),
                CsiPluginMain.class.getName(),
                "--node-name=" + node,
                "--csi-endpoint=unix://" + dir.resolve("csi.sock"),
                "--registration-dir=",
                "--state-dir=" + dir.resolve("state"),
                "--image-dir=" + dir.resolve("images"),
                "--store-root=" + store,
                "--export-address=" + address,
                "--http-export-port=0",
                "--sftp-export-port=-1",
                // The test registries listen on loopback, which the plugin refuses by default.
                "--registry-allowed-networks=127.0.0.0/8",
                // Several plugins share the machine: each gets a free port for /healthz, and
                // for containerd's mirror (on its own address, as on a node of its own).
                "--health-port=0",
                "--mirror-address=" + address + ":0"));
    command.addAll(List.of(extraArgs));
    Files.createDirectories(dir.resolve("logs"));
    return ManagedProcess.start(
        node + "-plugin",
        command,
        dir.resolve("logs").resolve("plugin-" + System.nanoTime() + ".log"));
  }

  /** Runs a command line tool, failing with its output when it exits non-zero. */
  static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new AssertionError(
          String.join(" ", command) + " exited " + p.exitValue() + ":\n" + out);
    }
    return out;
  }
}
