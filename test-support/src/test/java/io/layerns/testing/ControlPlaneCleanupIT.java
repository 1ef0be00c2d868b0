package io.layerns.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** No control-plane process outlives the JVM that started it, even one killed with kill -9. */
class ControlPlaneCleanupIT {

  @Test
  void killingTheJvmStopsEveryProcessItStarted() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process jvm =
        new ProcessBuilder(
                java.toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dlayerns.cache=" + ControlPlane.defaultBinDir().getParent(),
                ControlPlaneMain.class.getName())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    List<Long> pids = new ArrayList<>();
    try (var out =
        new BufferedReader(new InputStreamReader(jvm.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = out.readLine();
          line != null && !line.equals("ready");
          line = out.readLine()) {
        if (line.startsWith("pid ")) {
          pids.add(Long.parseLong(line.substring(line.lastIndexOf(' ') + 1)));
        }
      }
      assertThat(pids).as("etcd, kube-apiserver, kube-controller-manager").hasSize(3);
      assertThat(pids).allMatch(ControlPlaneCleanupIT::alive);

      jvm.destroyForcibly(); // SIGKILL: no shutdown hook runs
      jvm.waitFor();
    } finally {
      jvm.destroyForcibly();
    }

    await("control-plane processes gone after the JVM was killed")
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(pids).noneMatch(ControlPlaneCleanupIT::alive));
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }
}
