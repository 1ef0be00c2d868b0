package io.layerns.system;

import io.layerns.testing.ControlPlane;
import io.layerns.testing.ControlPlaneExtension;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the kubectl built with the control plane from the repository root, as an admin following the
 * README would, and keeps what it printed for assertion messages.
 */
final class ManifestKubectl {
  private static final long TIMEOUT_SECONDS = 120;

  /** What one kubectl run printed (stdout and stderr merged) and how it ended. */
  record Result(List<String> command, int exitCode, String output) {
    boolean succeeded() {
      return exitCode == 0;
    }

    String describe() {
      return "`kubectl " + String.join(" ", command) + "` exited " + exitCode + ":\n" + output;
    }
  }

  private ManifestKubectl() {}

  /** kubectl without a cluster (kustomize rendering needs none). */
  static Result offline(String... args) {
    return run(null, args);
  }

  /** kubectl against the control plane, with its admin kubeconfig. */
  static Result against(ControlPlane cp, String... args) {
    return run(cp.kubeconfig(), args);
  }

  private static Result run(Path kubeconfig, String... args) {
    Path kubectl = ControlPlane.defaultBinDir().resolve("kubectl");
    if (!Files.isExecutable(kubectl)) {
      throw new IllegalStateException(kubectl + " not found: run `make controlplane` first");
    }
    List<String> command = new ArrayList<>();
    command.add(kubectl.toString());
    if (kubeconfig != null) {
      command.add("--kubeconfig=" + kubeconfig);
    }
    command.addAll(List.of(args));
    try {
      Path out = Files.createTempFile("kubectl", ".out");
      try {
        Process p =
            new ProcessBuilder(command)
                .directory(ControlPlaneExtension.repoRoot().toFile())
                .redirectErrorStream(true)
                .redirectOutput(out.toFile())
                .start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
          p.destroyForcibly();
          throw new IllegalStateException(
              "kubectl "
                  + String.join(" ", args)
                  + " still running after "
                  + TIMEOUT_SECONDS
                  + "s");
        }
        return new Result(
            List.of(args), p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
      } finally {
        Files.deleteIfExists(out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
