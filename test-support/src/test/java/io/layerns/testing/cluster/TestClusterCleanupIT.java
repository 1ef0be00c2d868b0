package io.layerns.testing.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.layerns.testing.ControlPlane;
import io.layerns.testing.ControlPlaneExtension;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A real cluster leaves nothing behind, even when the JVM that runs it is killed with {@code kill
 * -9}: no process (kubelet, containerd, its shims, the containers), no cgroup, no folder. Its
 * addresses, routes, iptables rules and mounts exist only in namespaces that die with the last
 * process, so the machine's own network and mount table never see them.
 */
class TestClusterCleanupIT {

  @Test
  void killingTheJvmLeavesNoProcessCgroupOrFolder() throws Exception {
    Path images = ControlPlaneExtension.repoRoot().resolve("target/image");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process jvm =
        new ProcessBuilder(
                java.toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dlayerns.cache=" + ControlPlane.defaultBinDir().getParent(),
                TestClusterMain.class.getName(),
                "1",
                "layerns.local/pause:3.10",
                images.resolve("pause-3.10.tar").toString(),
                images.resolve("busybox-1.tar").toString())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    String tree = null;
    Path kubeconfig = null;
    Path clusterDir = null;
    try (var out =
        new BufferedReader(new InputStreamReader(jvm.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = out.readLine();
          line != null && !line.equals("ready");
          line = out.readLine()) {
        if (line.startsWith("cgroup ")) {
          tree = line.substring("cgroup ".length());
        } else if (line.startsWith("workdir ")) {
          clusterDir = Path.of(line.substring("workdir ".length()));
        } else if (line.startsWith("kubeconfig ")) {
          kubeconfig = Path.of(line.substring("kubeconfig ".length()));
        }
      }
      assertThat(tree).as("the cluster printed its cgroup tree").isNotNull();
      Path procsRoot = Path.of("/sys/fs/cgroup/pids", tree);
      Path controlPlaneDir = kubeconfig.getParent();
      Path workDir = clusterDir;
      // A container whose processes are nobody's child here: only the cgroup tree finds them.
      HostCommands.run(
          List.of(
              ControlPlane.defaultBinDir().resolve("kubectl").toString(),
              "--kubeconfig=" + kubeconfig,
              "run",
              "sleeper",
              "--image=layerns.local/busybox:1",
              "--image-pull-policy=Never",
              "--restart=Never",
              "--command",
              "--",
              "sleep",
              "3600"));
      HostCommands.run(
          List.of(
              ControlPlane.defaultBinDir().resolve("kubectl").toString(),
              "--kubeconfig=" + kubeconfig,
              "wait",
              "--for=condition=Ready",
              "pod/sleeper",
              "--timeout=120s"));
      List<Long> pids = pidsIn(procsRoot);
      assertThat(pids).as("processes in the cluster's tree").hasSizeGreaterThan(5);
      assertThat(pids.stream().map(TestClusterCleanupIT::command))
          .as("commands in the cluster's tree")
          .anyMatch(c -> c.startsWith("sleep 3600"))
          .anyMatch(c -> c.contains("containerd-shim-runc-v2"));

      jvm.destroyForcibly(); // SIGKILL: no shutdown hook runs
      jvm.waitFor();

      await("nothing of the cluster is left")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                assertThat(pids).noneMatch(TestClusterCleanupIT::alive);
                assertThat(procsRoot).doesNotExist();
                assertThat(Path.of("/sys/fs/cgroup/memory", procsRoot.getFileName().toString()))
                    .doesNotExist();
                assertThat(workDir).doesNotExist();
                assertThat(controlPlaneDir).doesNotExist();
              });
      assertThat(ip("addr")).doesNotContain("10.77.0.");
      assertThat(Files.readString(Path.of("/proc/self/mountinfo")))
          .doesNotContain("layerns-cluster-");
    } finally {
      jvm.destroyForcibly();
    }
  }

  private static List<Long> pidsIn(Path tree) throws Exception {
    List<Long> pids = new ArrayList<>();
    try (var files = Files.walk(tree)) {
      for (Path procs :
          files.filter(p -> p.getFileName().toString().equals("cgroup.procs")).toList()) {
        for (String line : Files.readAllLines(procs)) {
          if (!line.isBlank()) {
            pids.add(Long.parseLong(line.trim()));
          }
        }
      }
    }
    return pids;
  }

  private static String command(long pid) {
    try {
      byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
      return String.join(" ", Arrays.asList(new String(raw, StandardCharsets.UTF_8).split("\0")));
    } catch (Exception e) {
      return "";
    }
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  private static String ip(String what) {
    return HostCommands.run(List.of("ip", what));
  }
}
