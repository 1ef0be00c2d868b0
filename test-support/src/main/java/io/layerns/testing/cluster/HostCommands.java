package io.layerns.testing.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs short setup commands on the host (ip, ctr, mount) and fails with their output. */
final class HostCommands {
  private HostCommands() {}

  /** Runs {@code command}, returns its standard output; fails naming the command and its output. */
  static String run(List<String> command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out: " + String.join(" ", command));
      }
      String text = new String(out, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new IllegalStateException(
            "`" + String.join(" ", command) + "` exited " + p.exitValue() + ":\n" + text);
      }
      return text;
    } catch (IOException e) {
      throw new IllegalStateException("could not run " + String.join(" ", command), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Runs a bash script with arguments {@code $1...}. */
  static String bash(String script, String... args) {
    List<String> command = new java.util.ArrayList<>(List.of("bash", "-euo", "pipefail", "-c"));
    command.add(script);
    command.add("bash");
    command.addAll(List.of(args));
    return run(command);
  }
}
