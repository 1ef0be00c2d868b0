package io.layerns.csi.export.nfs;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the node's nfs-ganesha for the {@code Nfs} transport: writes its configuration, starts it in
 * the foreground as a child, restarts it when it dies and stops it on close. It exports the layers
 * it is told to ({@link #exportLayers}): the store's public ones, never a private one (see {@link
 * GaneshaConfig}).
 *
 * <p>Files in the state folder: {@code ganesha.conf}, {@code ganesha.log}, {@code ganesha.pid} and
 * {@code recovery/}.
 */
public final class NfsExport implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(NfsExport.class);

  /** The ganesha binary of the Debian package. */
  public static final String GANESHA = "ganesha.nfsd";

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);

  /** A run this long resets the restart back-off: it was not a crash loop. */
  private static final Duration STABLE_RUN = Duration.ofSeconds(60);

  private GaneshaConfig config;
  private final Path conf;
  private final Path log;
  private final Path pidFile;
  private final ScheduledExecutorService restarter =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "nfs-ganesha-watch");
            t.setDaemon(true);
            return t;
          });

  private Process process;

  /** The export id the next newly exported layer takes (unless taken). */
  private int nextId;

  /**
   * The ids layers had in the configuration an earlier agent left: a layer exported again gets its
   * id back, so that clients' file handles still name it after a restart.
   */
  private Map<String, Integer> earlier = Map.of();

  private long startedAtNanos;
  private int restarts;
  private int failuresInARow;
  private boolean closed;

  private NfsExport(GaneshaConfig config) {
    this.config = config;
    this.nextId =
        config.layers().values().stream().mapToInt(i -> i).max().orElse(0)
                % GaneshaConfig.MAX_EXPORT_ID
            + 1;
    this.conf = config.stateDir().resolve("ganesha.conf");
    this.log = config.stateDir().resolve("ganesha.log");
    this.pidFile = config.stateDir().resolve("ganesha.pid");
  }

  /**
   * Writes the configuration and starts ganesha; returns once it accepts connections.
   *
   * @throws IOException when ganesha exits or does not listen in time; the message holds the end of
   *     its log
   */
  public static NfsExport start(GaneshaConfig config) throws IOException {
    Files.createDirectories(config.stateDir().resolve("recovery"));
    NfsExport export = new NfsExport(config);
    export.stopLeftover();
    export.earlier = layersIn(export.conf);
    export.nextId =
        Math.max(
                    export.nextId - 1,
                    export.earlier.values().stream().mapToInt(i -> i).max().orElse(0))
                % GaneshaConfig.MAX_EXPORT_ID
            + 1;
    Files.writeString(export.conf, config.render(), StandardCharsets.UTF_8);
    synchronized (export) {
      try {
        export.launch();
      } catch (IOException e) {
        export.close();
        throw e;
      }
    }
    return export;
  }

  /** The running ganesha's process id, or empty between a crash and its restart. */
  public synchronized Optional<Long> pid() {
    return process != null && process.isAlive() ? Optional.of(process.pid()) : Optional.empty();
  }

  /** How many times ganesha was restarted after it died. */
  public synchronized int restarts() {
    return restarts;
  }

  /** The addresses that may mount the export now. */
  public synchronized List<String> clients() {
    return config.clients();
  }

  /**
   * Replaces the addresses that may mount the export (membership changed): rewrites the
   * configuration and has ganesha reload it (SIGHUP), which updates the export's client list
   * without dropping the mounts of the members that stay. Does nothing when the list is the same.
   *
   * @throws IllegalArgumentException when an entry is no address or CIDR block
   * @throws IOException when the configuration cannot be written or ganesha not be signalled
   */
  public synchronized void allowClients(List<String> clients) throws IOException {
    GaneshaConfig next = config.withClients(clients);
    if (next.clients().equals(config.clients())) {
      return;
    }
    apply(next);
    LOG.info("NFS export clients are now {}", next.clients());
  }

  /** The layers exported now, by the hex of their digests. */
  public synchronized Set<String> layers() {
    return config.layers().keySet();
  }

  /**
   * Exports exactly {@code layers} (the store's public layers), each under {@code
   * <pseudo>/sha256/<hex>}: the others vanish from ganesha's pseudo file system at the reload. A
   * layer keeps its export id while it stays exported; a new one takes the next id not taken. Does
   * nothing when the set is the same.
   *
   * @throws IOException when the configuration cannot be written or ganesha not be signalled
   */
  public synchronized void exportLayers(Collection<Digest> layers) throws IOException {
    SortedMap<String, Integer> next = new TreeMap<>();
    Set<Integer> taken = new HashSet<>();
    Set<String> wanted = new TreeSet<>();
    layers.forEach(d -> wanted.add(d.hex()));
    for (String hex : wanted) {
      Integer id = config.layers().get(hex);
      if (id != null) {
        next.put(hex, id);
        taken.add(id);
      }
    }
    for (String hex : wanted) {
      if (next.containsKey(hex)) {
        continue;
      }
      if (taken.size() >= GaneshaConfig.MAX_EXPORT_ID) {
        LOG.warn(
            "the NFS export holds {} layers, ganesha's most: {} layers are not exported",
            GaneshaConfig.MAX_EXPORT_ID,
            wanted.size() - next.size());
        break;
      }
      Integer before = earlier.get(hex);
      if (before != null && !taken.contains(before)) {
        next.put(hex, before);
        taken.add(before);
        continue;
      }
      // Ids go on counting rather than reusing one just freed: ganesha would take a reused id for
      // the old export with a new path (which it refuses), and clients' handles name the id.
      while (taken.contains(nextId)) {
        nextId = nextId % GaneshaConfig.MAX_EXPORT_ID + 1;
      }
      next.put(hex, nextId);
      taken.add(nextId);
      nextId = nextId % GaneshaConfig.MAX_EXPORT_ID + 1;
    }
    if (next.equals(config.layers())) {
      return;
    }
    int before = config.layers().size();
    apply(config.withLayers(next));
    LOG.info("NFS export holds {} public layers (was {})", next.size(), before);
  }

  /** Writes {@code next} and has a running ganesha reload it; caller holds the lock. */
  private void apply(GaneshaConfig next) throws IOException {
    Path work = config.stateDir().resolve("ganesha.conf.new");
    Files.writeString(work, next.render(), StandardCharsets.UTF_8);
    Files.move(
        work,
        conf,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    config = next;
    Process p = process;
    if (p != null && p.isAlive()) {
      reload(p);
    }
    // A ganesha between crash and restart reads the new file when it starts.
  }

  /** The layers and their export ids in a configuration file this class wrote; empty if none. */
  static Map<String, Integer> layersIn(Path conf) throws IOException {
    if (!Files.isRegularFile(conf)) {
      return Map.of();
    }
    Map<String, Integer> out = new HashMap<>();
    Matcher m = EXPORT_OF_LAYER.matcher(Files.readString(conf, StandardCharsets.UTF_8));
    while (m.find()) {
      int id = Integer.parseInt(m.group(1));
      if (id >= 1 && id <= GaneshaConfig.MAX_EXPORT_ID) {
        out.put(m.group(2), id);
      }
    }
    return out;
  }

  /** An export block as {@link GaneshaConfig#render} writes it: its id, then its layer's path. */
  private static final Pattern EXPORT_OF_LAYER =
      Pattern.compile("Export_Id = ([0-9]{1,5});\\s*Path = [^;]*/sha256/([a-f0-9]{64});");

  /** Sends SIGHUP, on which ganesha re-reads its configuration and updates its exports. */
  private static void reload(Process p) throws IOException {
    Process kill =
        new ProcessBuilder("kill", "-HUP", Long.toString(p.pid()))
            .redirectErrorStream(true)
            .start();
    try {
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IOException(
            "could not signal nfs-ganesha (pid "
                + p.pid()
                + ") to reload: "
                + new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while signalling nfs-ganesha", e);
    }
  }

  /** The generated configuration file. */
  public Path configFile() {
    return conf;
  }

  /** Ganesha's own log file, for diagnosis. */
  public Path logFile() {
    return log;
  }

  /** Stops ganesha and the watch; ganesha is not restarted afterwards. */
  @Override
  public void close() {
    Process p;
    synchronized (this) {
      closed = true;
      p = process;
    }
    restarter.shutdownNow();
    if (p != null) {
      stop(p);
    }
  }

  // ---- the process --------------------------------------------------------------------------

  /** Starts ganesha and waits for its port; caller holds the lock. */
  private void launch() throws IOException {
    Process p =
        new ProcessBuilder(
                GANESHA,
                "-F",
                "-f",
                conf.toString(),
                "-L",
                log.toString(),
                "-p",
                pidFile.toString(),
                "-N",
                "NIV_EVENT")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start();
    process = p;
    startedAtNanos = System.nanoTime();
    awaitListening(p);
    LOG.info(
        "nfs-ganesha (pid {}) exports {} at {}:{}{} to {}",
        p.pid(),
        config.exportPath(),
        config.bindAddress(),
        config.port(),
        config.pseudoPath(),
        config.clients());
    p.onExit().thenAccept(this::exited);
  }

  private void awaitListening(Process p) throws IOException {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      if (!p.isAlive()) {
        throw new IOException(
            "nfs-ganesha exited with code " + p.exitValue() + " before listening: " + logTail());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(config.bindAddress(), config.port()), 500);
        return;
      } catch (IOException notYet) {
        if (System.nanoTime() > deadline) {
          stop(p);
          throw new IOException(
              "nfs-ganesha did not listen on "
                  + config.bindAddress()
                  + ":"
                  + config.port()
                  + " within "
                  + READY_TIMEOUT.toSeconds()
                  + "s: "
                  + logTail());
        }
      }
      try {
        // Polling a port ganesha opens a second or so after starting; nothing to wait on instead.
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        stop(p);
        throw new IOException("interrupted while starting nfs-ganesha", e);
      }
    }
  }

  private synchronized void exited(Process p) {
    if (closed || p != process) {
      return;
    }
    Duration ran = Duration.ofNanos(System.nanoTime() - startedAtNanos);
    failuresInARow = ran.compareTo(STABLE_RUN) >= 0 ? 0 : failuresInARow + 1;
    long delayMs = Math.min(MAX_BACKOFF.toMillis(), 100L << Math.min(failuresInARow, 10));
    LOG.warn(
        "nfs-ganesha (pid {}) exited with code {} after {}s; restarting in {} ms. Log: {}",
        p.pid(),
        p.exitValue(),
        ran.toSeconds(),
        delayMs,
        logTail());
    restarter.schedule(this::restart, delayMs, TimeUnit.MILLISECONDS);
  }

  private synchronized void restart() {
    if (closed) {
      return;
    }
    try {
      restarts++;
      launch();
    } catch (IOException e) {
      // launch() only schedules the next try from onExit, which a failed start may not reach.
      LOG.error("restarting nfs-ganesha failed: {}", e.getMessage());
      Process p = process;
      if (p != null && !p.isAlive()) {
        exited(p);
      }
    }
  }

  private static void stop(Process p) {
    p.destroy();
    try {
      if (!p.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        LOG.warn("nfs-ganesha (pid {}) ignored SIGTERM; killing it", p.pid());
        p.destroyForcibly();
        p.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Stops a ganesha that an earlier node agent started with this configuration (the agent died, its
   * child did not), so that the new one can bind the port.
   */
  private void stopLeftover() throws IOException {
    if (!Files.isRegularFile(pidFile)) {
      return;
    }
    long pid;
    try {
      pid = Long.parseLong(Files.readString(pidFile).strip());
    } catch (NumberFormatException e) {
      return;
    }
    Optional<ProcessHandle> h = ProcessHandle.of(pid);
    if (h.isEmpty()) {
      return;
    }
    Path cmdline = Path.of("/proc", Long.toString(pid), "cmdline");
    String cmd;
    try {
      cmd = Files.readString(cmdline).replace('\0', ' ');
    } catch (IOException gone) {
      return;
    }
    // Only ours: the pid may have been reused by anything since.
    if (cmd.contains(GANESHA) && cmd.contains(conf.toString())) {
      LOG.info("stopping nfs-ganesha (pid {}) left by an earlier node agent", pid);
      h.get().destroy();
      try {
        h.get().onExit().get(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      } catch (Exception e) {
        h.get().destroyForcibly();
      }
    }
  }

  private String logTail() {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
