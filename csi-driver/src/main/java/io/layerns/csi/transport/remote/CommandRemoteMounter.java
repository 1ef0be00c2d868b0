package io.layerns.csi.transport.remote;

import io.layerns.csi.mount.MountTable;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs the mount commands for real (as root) and probes mounts with a lookup. */
public final class CommandRemoteMounter implements RemoteMounter {

  private static final Logger LOG = LoggerFactory.getLogger(CommandRemoteMounter.class);

  /** A remote mount connects within its own timeouts (10s for ssh); this is the backstop. */
  private static final long COMMAND_TIMEOUT_SECONDS = 60;

  private final Duration probeTimeout;
  private final FuseDaemonCgroup daemons;
  private List<Path> daemonProcs;
  private final ExecutorService probes =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "remote-mount-probe");
            t.setDaemon(true);
            return t;
          });

  /**
   * @param probeTimeout how long a probe may take before the mount counts as not answering
   */
  public CommandRemoteMounter(Duration probeTimeout) {
    this(probeTimeout, FuseDaemonCgroup.none());
  }

  /**
   * @param probeTimeout how long a probe may take before the mount counts as not answering
   * @param daemons where the mount's FUSE daemon runs, so that it outlives this plugin
   */
  public CommandRemoteMounter(Duration probeTimeout, FuseDaemonCgroup daemons) {
    this.probeTimeout = probeTimeout;
    this.daemons = daemons;
  }

  @Override
  public void mount(List<String> command) throws IOException {
    run(FuseDaemonCgroup.wrap(daemonProcs(), command));
  }

  private synchronized List<Path> daemonProcs() throws IOException {
    if (daemonProcs == null) {
      daemonProcs = daemons.prepare();
    }
    return daemonProcs;
  }

  @Override
  public void unmount(Path target) throws IOException {
    run(List.of("umount", target.toString()));
  }

  @Override
  public void detach(Path target) throws IOException {
    run(List.of("umount", "-l", target.toString()));
  }

  @Override
  public List<MountTable.Entry> mounts() throws IOException {
    return MountTable.read();
  }

  /**
   * Looks up a name that cannot exist under the mount. Caches keep stat answers of known names
   * (sshfs for 20s), but a fresh name always goes to the server: a live mount answers "no such
   * file", a dead one an error (ENOTCONN when sshfs is gone, EIO when the peer is) or nothing.
   */
  @Override
  public Optional<String> probe(Path target) {
    Path probe = target.resolve(".layerns-probe-" + UUID.randomUUID());
    Future<Optional<String>> f =
        probes.submit(
            () -> {
              try {
                Files.readAttributes(probe, BasicFileAttributes.class);
                return Optional.empty();
              } catch (NoSuchFileException e) {
                return Optional.empty();
              } catch (IOException e) {
                return Optional.of(reason(e));
              }
            });
    try {
      return f.get(probeTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      // The probe thread stays blocked in the kernel until the mount gives up; it is a daemon.
      return Optional.of("no answer within " + probeTimeout.toSeconds() + "s");
    } catch (ExecutionException e) {
      return Optional.of(String.valueOf(e.getCause()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.of("interrupted while probing");
    }
  }

  private static String reason(IOException e) {
    if (e instanceof FileSystemException fse && fse.getReason() != null) {
      return fse.getReason();
    }
    return String.valueOf(e.getMessage());
  }

  private static void run(List<String> cmd) throws IOException {
    LOG.debug("running {}", cmd);
    // Output goes to a file, not a pipe: sshfs leaves ssh running in the background with the
    // command's stderr, so a pipe would never reach end of file.
    Path out = Files.createTempFile("layerns-mount-", ".log");
    try {
      Process p =
          new ProcessBuilder(cmd)
              .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
              .redirectErrorStream(true)
              .redirectOutput(out.toFile())
              .start();
      try {
        if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
          p.destroyForcibly();
          throw new IOException(
              String.join(" ", cmd) + " did not finish in " + COMMAND_TIMEOUT_SECONDS + "s");
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while running " + String.join(" ", cmd), e);
      }
      if (p.exitValue() != 0) {
        String output = Files.readString(out, StandardCharsets.UTF_8).strip();
        throw new IOException(
            String.join(" ", cmd) + " failed with exit code " + p.exitValue() + ": " + output);
      }
    } finally {
      Files.deleteIfExists(out);
    }
  }
}
