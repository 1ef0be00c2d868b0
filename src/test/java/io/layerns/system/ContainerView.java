package io.layerns.system;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A volume as a container sees it: a process in a mount namespace of its own (made as runc makes a
 * container's: every mount a slave of the host's) that binds the volume's target path as the
 * kubelet asks for a {@code volumeMount}, with {@code HostToContainer} propagation (rslave: mounts
 * the host makes later at the target reach it) or {@code None} (rprivate: they never do).
 */
final class ContainerView implements AutoCloseable {

  /** A volumeMount's {@code mountPropagation}. */
  enum Propagation {
    HOST_TO_CONTAINER("rslave"),
    NONE("rprivate");

    private final String flag;

    Propagation(String flag) {
      this.flag = flag;
    }
  }

  private final Process process;
  private final Path view;

  private ContainerView(Process process, Path view) {
    this.process = process;
    this.view = view;
  }

  /**
   * Starts the process, with the volume at {@code target} bound at {@code view} in its namespace.
   */
  static ContainerView of(Path target, Path view, Propagation propagation) throws IOException {
    Files.createDirectories(view);
    Process p =
        new ProcessBuilder(
                "unshare",
                "-m",
                "--propagation",
                "slave",
                "sh",
                "-c",
                "mount --bind \"$1\" \"$2\" && mount --make-"
                    + propagation.flag
                    + " \"$2\""
                    + " && echo ready && exec sleep infinity",
                "sh",
                target.toString(),
                view.toString())
            .redirectErrorStream(true)
            .start();
    String first =
        new String(p.getInputStream().readNBytes("ready\n".length()), StandardCharsets.UTF_8);
    if (!first.equals("ready\n")) {
      p.destroyForcibly();
      throw new IOException("the container view of " + target + " did not start: " + first);
    }
    return new ContainerView(p, view);
  }

  /** What {@code cat} prints for the file inside the view, or its error message. */
  String read(String relative) throws IOException, InterruptedException {
    Process cat =
        new ProcessBuilder(
                List.of(
                    "nsenter",
                    "-t",
                    Long.toString(process.pid()),
                    "-m",
                    "cat",
                    view.resolve(relative).toString()))
            .redirectErrorStream(true)
            .start();
    // The files read are a line or two, well under a pipe buffer: waiting first cannot deadlock.
    if (!cat.waitFor(30, TimeUnit.SECONDS)) {
      cat.destroyForcibly();
      return "no answer within 30 s";
    }
    String out = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return cat.exitValue() == 0 ? out : "error: " + out.strip();
  }

  @Override
  public void close() {
    // Its mount namespace, and the bind in it, go with the process.
    process.destroyForcibly();
  }
}
