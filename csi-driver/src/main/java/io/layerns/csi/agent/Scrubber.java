package io.layerns.csi.agent;

import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Re-verifies the copies the store holds (see {@link LocalLayerStore#verify}) so that rot is found
 * before dedup keeps a rotten copy: every copy once per {@code period}, reading at most {@code
 * bytesPerSecond}, and any copy at once on request (the operator asks before it lets another copy
 * go). A copy that fails is quarantined, so nothing serves or mounts it, and its failure told to
 * the listener; the agent's fetch path then brings a good copy when the node is to keep one.
 *
 * <p>Pacing: a copy is read when its last verification is older than {@code period} less the time a
 * read of the whole store takes at the rate, so the reads of a full store spread over that time and
 * each copy is read again within the period, as long as the store can be read in a period.
 */
public final class Scrubber implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Scrubber.class);

  /** Longest idle wait, so that new copies and changed sizes are seen. */
  private static final Duration IDLE = Duration.ofMinutes(1);

  /**
   * How fast and how often.
   *
   * @param bytesPerSecond the most bytes a second the scrub reads, blob and tree together
   * @param period every copy is verified again within this time of its last verification
   */
  public record Settings(long bytesPerSecond, Duration period) {
    /** 32 MiB/s and a day: a store of up to 2.6 TiB is read once a day at that rate. */
    public static final Settings DEFAULT = new Settings(32L << 20, Duration.ofHours(24));

    public Settings {
      if (bytesPerSecond <= 0 || period.isNegative() || period.isZero()) {
        throw new IllegalArgumentException(
            "scrub rate and period must be positive, were " + bytesPerSecond + " B/s, " + period);
      }
    }
  }

  /** What the agent hears of each verification. */
  public interface Listener {
    void verified(Digest digest, Instant at);

    void failed(Digest digest, String problem);
  }

  private final LocalLayerStore store;
  private final Settings settings;
  private final Clock clock;
  private final Listener listener;
  private final Set<Digest> requested = new LinkedHashSet<>();
  private final Thread thread;
  private volatile boolean running = true;
  private long bytesRead;
  private final Pace pace;

  public Scrubber(LocalLayerStore store, Settings settings, Clock clock, Listener listener) {
    this.store = store;
    this.settings = settings;
    this.clock = clock;
    this.listener = listener;
    this.pace = new Pace(settings.bytesPerSecond(), System.nanoTime());
    this.thread = new Thread(this::run, "node-agent-scrub");
    thread.setDaemon(true);
  }

  public Scrubber start() {
    thread.start();
    return this;
  }

  public Settings settings() {
    return settings;
  }

  /** Verifies the copy as soon as the current read ends, before any scheduled one. */
  public synchronized void request(Digest digest) {
    if (requested.add(digest)) {
      notifyAll();
    }
  }

  /** Bytes read by verifications so far. */
  public synchronized long bytesRead() {
    return bytesRead;
  }

  private void run() {
    while (running) {
      try {
        Optional<Digest> next = next();
        if (next.isPresent()) {
          verify(next.get());
        }
        store.emptyQuarantine();
      } catch (InterruptedException e) {
        return;
      } catch (IOException | RuntimeException e) {
        LOG.warn("scrub pass failed, retrying in 10s: {}", e.toString());
        try {
          Thread.sleep(10_000);
        } catch (InterruptedException ie) {
          return;
        }
      }
    }
  }

  /** The next copy to verify, waiting until one is requested or due. */
  private Optional<Digest> next() throws IOException, InterruptedException {
    synchronized (this) {
      if (!requested.isEmpty()) {
        Digest d = requested.iterator().next();
        requested.remove(d);
        return Optional.of(d);
      }
    }
    Instant now = clock.instant();
    long storeBytes = store.usedBytes();
    Duration fullRead = Duration.ofMillis(storeBytes * 1000 / settings.bytesPerSecond());
    Duration lead = fullRead.compareTo(settings.period()) < 0 ? fullRead : settings.period();
    Digest oldest = null;
    Instant oldestAt = null;
    for (StoredLayer layer : store.listLayers()) {
      Optional<Instant> at = store.lastVerified(layer.digest());
      if (at.isPresent() && (oldestAt == null || at.get().isBefore(oldestAt))) {
        oldest = layer.digest();
        oldestAt = at.get();
      }
    }
    Duration wait = IDLE;
    if (oldest != null) {
      Instant due = oldestAt.plus(settings.period()).minus(lead);
      if (!due.isAfter(now)) {
        return Optional.of(oldest);
      }
      Duration untilDue = Duration.between(now, due);
      wait = untilDue.compareTo(IDLE) < 0 ? untilDue : IDLE;
    }
    synchronized (this) {
      if (requested.isEmpty() && running) {
        wait(Math.max(1, wait.toMillis()));
      }
    }
    return Optional.empty();
  }

  private void verify(Digest digest) throws IOException, InterruptedException {
    if (!store.hasLayer(digest)) {
      return;
    }
    long start = System.nanoTime();
    Optional<String> problem = store.verify(digest, this::pace);
    if (problem.isPresent()) {
      LOG.warn("copy of {} failed verification: {}; quarantined", digest, problem.get());
      store.quarantine(digest);
      listener.failed(digest, problem.get());
    } else {
      LOG.debug(
          "verified {} in {} ms", digest, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
      store.lastVerified(digest).ifPresent(at -> listener.verified(digest, at));
    }
  }

  /** Sleeps as long as reading {@code bytes} more needs to keep to the rate. */
  private void pace(long bytes) throws IOException {
    long sleepNanos;
    synchronized (this) {
      bytesRead += bytes;
      sleepNanos = pace.before(bytes, System.nanoTime());
    }
    if (sleepNanos > 0) {
      try {
        TimeUnit.NANOSECONDS.sleep(sleepNanos);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("scrub stopped");
      }
    }
  }

  /** The scrub's rate limit, on a clock of nanoseconds that the caller passes in. */
  public static final class Pace {
    private final long bytesPerSecond;
    private long nextFreeNanos;

    public Pace(long bytesPerSecond, long nowNanos) {
      this.bytesPerSecond = bytesPerSecond;
      this.nextFreeNanos = nowNanos;
    }

    /**
     * How long to wait, from {@code nowNanos}, before reading {@code bytes}: until the reads before
     * are paid for. The read's own time counts towards its share; waiting for its share before it,
     * too, added each read's time to the pause and kept the scrub at 19 MiB/s of 32 on the
     * benchmark's disk ({@code make bench}, scrub).
     */
    public long before(long bytes, long nowNanos) {
      long start = Math.max(nextFreeNanos, nowNanos);
      nextFreeNanos = start + bytes * 1_000_000_000L / bytesPerSecond;
      return start - nowNanos;
    }
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
  }
}
