package io.layerns.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A child process that cannot outlive the JVM that started it, even when that JVM is killed with
 * {@code kill -9}: it runs under a small shell watchdog that kills it as soon as its stdin pipe
 * from this JVM closes, which the kernel does whenever this JVM exits, however it exits.
 */
public final class ManagedProcess implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ManagedProcess.class);

  // $1.. is the command. The watcher waits for EOF on stdin (this JVM gone or close() called),
  // then stops the command, politely first. Bash gives background jobs /dev/null as stdin, so the
  // watcher reads the lifeline through fd 4.
  private static final String WATCHDOG =
      """
      exec 4<&0
      "$@" </dev/null 4<&- &
      child=$!
      echo "$child" >&3
      ( cat <&4 >/dev/null; kill -TERM "$child" 2>/dev/null;
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.5; done;
        kill -KILL "$child" 2>/dev/null ) &
      wait "$child"
      """;

  private final String name;
  private final Process watchdog;
  private final OutputStream lifeline;
  private final long pid;
  private final Path log;

  private ManagedProcess(String name, Process watchdog, long pid, Path log) {
    this.name = name;
    this.watchdog = watchdog;
    this.lifeline = watchdog.getOutputStream();
    this.pid = pid;
    this.log = log;
  }

  /** Starts {@code command}, logging its output to {@code log}. */
  public static ManagedProcess start(String name, List<String> command, Path log)
      throws IOException {
    Path pidFile = Files.createTempFile(log.getParent(), name, ".pid");
    List<String> argv = new ArrayList<>();
    argv.add("bash");
    argv.add("-c");
    argv.add("exec 3>\"$0\"; " + WATCHDOG);
    argv.add(pidFile.toString());
    argv.addAll(command);
    Process p =
        new ProcessBuilder(argv)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start();
    long pid = awaitPid(pidFile, p);
    LOG.info("started {} (pid {}), log {}", name, pid, log);
    return new ManagedProcess(name, p, pid, log);
  }

  private static long awaitPid(Path pidFile, Process p) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      String text = Files.readString(pidFile).trim();
      if (!text.isEmpty()) {
        Files.deleteIfExists(pidFile);
        return Long.parseLong(text);
      }
      if (!p.isAlive()) {
        throw new IOException("watchdog exited with " + p.exitValue() + " before starting");
      }
      Thread.onSpinWait();
    }
    throw new IOException("process did not start within 10s");
  }

  public String name() {
    return name;
  }

  /** The pid of the command itself (not of its watchdog). */
  public long pid() {
    return pid;
  }

  public Path log() {
    return log;
  }

  public boolean isAlive() {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  /** The last lines of the process's log, for error messages. */
  public String logTail(int lines) {
    try {
      List<String> all = Files.readAllLines(log);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(log unreadable: " + e.getMessage() + ")";
    }
  }

  /** Kills the command at once, as a crash would. */
  public void kill() {
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    close();
  }

  /** Stops the command (SIGTERM, then SIGKILL after 5s) and waits for it to be gone. */
  @Override
  public void close() {
    try {
      lifeline.close();
    } catch (IOException ignored) {
      // the watchdog is already gone; the pid check below still holds
    }
    try {
      if (!watchdog.waitFor(Duration.ofSeconds(10).toMillis(), TimeUnit.MILLISECONDS)) {
        watchdog.destroyForcibly();
      }
      ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
