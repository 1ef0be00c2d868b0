package io.layerns.csi.export;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a client command in tests and keeps its exit code and output. */
public record Cmd(List<String> command, int exitCode, String output) {

  /** Runs {@code command} with no input, giving it at most 60s. */
  public static Cmd run(List<String> command) throws IOException, InterruptedException {
    // A file, not a pipe: ssh-based clients may leave children holding the pipe open.
    Path out = Files.createTempFile("layerns-cmd-", ".out");
    try {
      Process p =
          new ProcessBuilder(command)
              .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
              .redirectErrorStream(true)
              .redirectOutput(out.toFile())
              .start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
        throw new IOException(String.join(" ", command) + " did not finish in 60s");
      }
      return new Cmd(command, p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
    }
  }

  /** Runs {@code command} and fails unless it exits with 0. */
  public static Cmd ok(String... command) throws IOException, InterruptedException {
    Cmd c = run(List.of(command));
    if (c.exitCode() != 0) {
      throw new IOException(c.toString());
    }
    return c;
  }
}
