package io.layerns.csi.cold;

import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.csi.agent.Scrubber;
import io.layerns.csi.cold.Bucket.Check;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the bucket copies of the layers this node is the cold keeper of ({@code
 * spec.layers[].coldKeeper}): writes each from the node's verified copy unless the bucket already
 * holds a good one, reads it back before it reports it Confirmed, and then re-reads every Confirmed
 * copy within the scrub period at a bounded rate (the scrub). A copy found Missing or Corrupt is
 * reported so, told in a Warning event, and written again from the node's copy. It also checks,
 * every pass, that the bucket answers to the credentials (the {@code ColdTierReady} condition).
 *
 * <p>One thread, so the bucket sees one request of this node's at a time; a bucket that fails
 * (server down, wrong credentials) leaves Confirmed reports as they were (the copy was verified and
 * nothing says it is gone) and is tried again after {@link #RETRY}.
 */
public final class ColdKeeper implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ColdKeeper.class);

  /** 8 MiB/s and a day: a node keeping up to 675 GiB of cold copies reads them daily. */
  public static final Scrubber.Settings DEFAULT_SCRUB =
      new Scrubber.Settings(8L << 20, Duration.ofDays(1));

  /** How long a failed bucket, or a copy that could not be written, waits to be tried again. */
  static final Duration RETRY = Duration.ofSeconds(30);

  /** Longest idle wait, so that a bucket that went away is noticed. */
  private static final Duration IDLE = Duration.ofMinutes(1);

  /** Event reasons. */
  public static final String COLD_COPY_CORRUPT = "ColdCopyCorrupt";

  public static final String COLD_COPY_MISSING = "ColdCopyMissing";
  public static final String COLD_COPY_REWRITTEN = "ColdCopyRewritten";
  public static final String COLD_TIER_FAILED = "ColdTierFailed";

  /** Whether the bucket answers: the {@code ColdTierReady} condition's status, reason, message. */
  public record Access(boolean ready, String reason, String message) {}

  /** What the agent hears. */
  public interface Listener {
    /** A report or the access changed: time to write the status. */
    void changed();

    /** Something worth an event on the node's LayerStore. */
    void event(boolean warning, String reason, String message);
  }

  /** The node's verified blob of a layer, when it holds one. */
  @FunctionalInterface
  public interface Blobs {
    Optional<Path> blob(Digest digest);
  }

  private final ColdBuckets buckets;
  private final Blobs blobs;
  private final Scrubber.Settings settings;
  private final Clock clock;
  private final Listener listener;
  private final Map<Digest, ColdCopy> reports = new ConcurrentHashMap<>();
  private final Map<Digest, Instant> retryAt = new ConcurrentHashMap<>();
  private final Scrubber.Pace pace;
  private final Thread thread;
  private volatile boolean running = true;
  private ColdTier tier;

  /**
   * The tier the running pass works on. A pass that began before the spec named another tier must
   * not report into the new tier's reports (a copy Confirmed in the old bucket would read as
   * Confirmed in the new one, and stay so until its scrub).
   */
  private volatile ColdTier working;

  private Set<Digest> kept = Set.of();
  private volatile Access access;
  private long bytesRead;

  public ColdKeeper(
      ColdBuckets buckets,
      Blobs blobs,
      Scrubber.Settings settings,
      Clock clock,
      Listener listener) {
    this.buckets = buckets;
    this.blobs = blobs;
    this.settings = settings;
    this.clock = clock;
    this.listener = listener;
    this.pace = new Scrubber.Pace(settings.bytesPerSecond(), System.nanoTime());
    this.thread = new Thread(this::run, "node-agent-cold-keeper");
    thread.setDaemon(true);
  }

  public ColdKeeper start() {
    thread.start();
    return this;
  }

  /** The cold tier (null: none) and the layers this node keeps in it, from the latest spec. */
  public synchronized void keep(ColdTier tier, Set<Digest> kept) {
    if (java.util.Objects.equals(tier, this.tier) && kept.equals(this.kept)) {
      return;
    }
    if (!java.util.Objects.equals(tier, this.tier)) {
      reports.clear(); // another bucket: nothing is known of it yet
      retryAt.clear();
      access = null;
    }
    this.tier = tier;
    this.kept = Set.copyOf(kept);
    notifyAll();
  }

  /** The reports of the layers kept, by digest; null without a cold tier. */
  public synchronized List<ColdCopy> copies() {
    if (tier == null) {
      return null;
    }
    List<ColdCopy> out = new ArrayList<>();
    for (Digest d : kept) {
      ColdCopy c = reports.get(d);
      if (c != null) {
        out.add(c);
      }
    }
    out.sort(Comparator.comparing(ColdCopy::digest));
    return out;
  }

  /** Whether the bucket answered the last check; empty before the first, or without a tier. */
  public Optional<Access> access() {
    return Optional.ofNullable(access);
  }

  /** Bytes the scrub has read from the bucket. */
  public synchronized long bytesRead() {
    return bytesRead;
  }

  private void run() {
    while (running) {
      try {
        pass();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        LOG.warn("cold keeper pass failed, retrying in {}: {}", RETRY, e.toString());
        try {
          sleep(RETRY);
        } catch (InterruptedException ie) {
          return;
        }
      }
    }
  }

  private void pass() throws InterruptedException {
    ColdTier t;
    Set<Digest> k;
    synchronized (this) {
      t = tier;
      k = kept;
      working = t;
      if (t == null) {
        wait(IDLE.toMillis());
        return;
      }
    }
    reports.keySet().retainAll(k);
    Bucket bucket;
    try {
      bucket = buckets.bucket(t);
      bucket.checkAccess();
    } catch (BucketException e) {
      failed(t, k, e);
      sleep(RETRY);
      return;
    }
    setAccess(new Access(true, "Ready", "The node reads and writes " + bucket.describe() + "."));
    Optional<Digest> next = next(k);
    if (next.isEmpty()) {
      sleep(untilDue(k));
      return;
    }
    try {
      work(bucket, next.get());
    } catch (BucketException e) {
      failed(t, k, e);
      sleep(RETRY);
    } catch (java.io.InterruptedIOException e) {
      throw new InterruptedException(e.getMessage());
    } catch (IOException e) {
      report(next.get(), ColdCopyState.Failed, e.getMessage());
      retryAt.put(next.get(), clock.instant().plus(RETRY));
    }
  }

  /**
   * The next copy to work on: one not Confirmed (new, Missing, Corrupt, Failed) and not waiting to
   * be retried, else the Confirmed one checked longest ago once it is due.
   */
  private Optional<Digest> next(Set<Digest> k) {
    Instant now = clock.instant();
    Digest oldest = null;
    Instant oldestAt = null;
    for (Digest d : k.stream().sorted(Comparator.comparing(Digest::hex)).toList()) {
      ColdCopy c = reports.get(d);
      if (c == null || c.state() != ColdCopyState.Confirmed) {
        Instant at = retryAt.get(d);
        if (at == null || !at.isAfter(now)) {
          return Optional.of(d);
        }
        continue;
      }
      Instant checked = Instant.parse(c.checkedAt());
      if (oldestAt == null || checked.isBefore(oldestAt)) {
        oldest = d;
        oldestAt = checked;
      }
    }
    if (oldest != null && !oldestAt.plus(settings.period()).isAfter(now)) {
      return Optional.of(oldest);
    }
    return Optional.empty();
  }

  /** How long until the next copy is due (a retry or a scrub), at most {@link #IDLE}. */
  private Duration untilDue(Set<Digest> k) {
    Instant now = clock.instant();
    Instant due = now.plus(IDLE);
    for (Digest d : k) {
      ColdCopy c = reports.get(d);
      Instant at =
          c != null && c.state() == ColdCopyState.Confirmed
              ? Instant.parse(c.checkedAt()).plus(settings.period())
              : retryAt.getOrDefault(d, now);
      if (at.isBefore(due)) {
        due = at;
      }
    }
    Duration wait = Duration.between(now, due);
    return wait.isNegative() ? Duration.ofMillis(1) : wait;
  }

  private void work(Bucket bucket, Digest digest) throws IOException {
    ColdCopy before = reports.get(digest);
    boolean scrub = before != null && before.state() == ColdCopyState.Confirmed;
    if (scrub) {
      Check c = bucket.verify(digest, this::pace);
      if (c.state() == Bucket.State.CONFIRMED) {
        report(digest, ColdCopyState.Confirmed, c.message());
        return;
      }
      boolean corrupt = c.state() == Bucket.State.CORRUPT;
      LOG.warn("cold copy of {}: {}", digest, c.message());
      report(digest, corrupt ? ColdCopyState.Corrupt : ColdCopyState.Missing, c.message());
      listener.event(
          true,
          corrupt ? COLD_COPY_CORRUPT : COLD_COPY_MISSING,
          c.message() + "; writing it again from this node's copy");
    }
    Optional<Path> blob = blobs.blob(digest);
    if (blob.isEmpty()) {
      // Nothing here to write from: say what the bucket holds, and try again later.
      Check c = bucket.verify(digest, scrub ? this::pace : Bucket.Pacer.NONE);
      ColdCopyState state = state(c);
      report(
          digest,
          state,
          state == ColdCopyState.Confirmed
              ? c.message()
              : c.message() + "; this node holds no copy to write it from");
      if (state != ColdCopyState.Confirmed) {
        retryAt.put(digest, clock.instant().plus(RETRY));
      }
      return;
    }
    try {
      Check c = bucket.store(digest, blob.get(), scrub ? this::pace : Bucket.Pacer.NONE);
      report(digest, state(c), c.message());
      if (c.written()) {
        LOG.info("cold copy of {}: {}", digest, c.message());
        if (scrub) {
          listener.event(false, COLD_COPY_REWRITTEN, c.message());
        }
      }
      if (c.state() != Bucket.State.CONFIRMED) {
        retryAt.put(digest, clock.instant().plus(RETRY));
      }
    } catch (Bucket.DigestMismatchOnNode e) {
      // The node's own scrub quarantines such a copy; the keeper waits for a good one.
      report(digest, ColdCopyState.Failed, e.getMessage());
      retryAt.put(digest, clock.instant().plus(RETRY));
    }
  }

  private static ColdCopyState state(Check c) {
    return switch (c.state()) {
      case CONFIRMED -> ColdCopyState.Confirmed;
      case MISSING -> ColdCopyState.Missing;
      case CORRUPT -> ColdCopyState.Corrupt;
    };
  }

  /**
   * The bucket failed as a whole: the condition says why, and copies not yet Confirmed are Failed
   * with the reason. Confirmed ones stay: a server that is down has not lost them.
   */
  private synchronized void failed(ColdTier t, Set<Digest> k, BucketException e) {
    if (!java.util.Objects.equals(t, tier)) {
      return; // a pass over a tier the spec no longer names
    }
    Access before = access;
    setAccess(new Access(false, e.reason().condition(), e.getMessage()));
    if (before == null || before.ready() || !before.reason().equals(e.reason().condition())) {
      LOG.warn("cold tier bucket {}: {}", t.bucket(), e.getMessage());
      listener.event(true, COLD_TIER_FAILED, e.getMessage());
    }
    for (Digest d : k) {
      ColdCopy c = reports.get(d);
      if (c == null || c.state() != ColdCopyState.Confirmed) {
        report(d, ColdCopyState.Failed, e.getMessage());
      }
    }
  }

  private void setAccess(Access now) {
    Access before = access;
    access = now;
    if (!now.equals(before)) {
      listener.changed();
    }
  }

  private synchronized void report(Digest digest, ColdCopyState state, String message) {
    if (!java.util.Objects.equals(working, tier)) {
      return; // a pass over a tier the spec no longer names
    }
    ColdCopy before = reports.get(digest);
    reports.put(
        digest, new ColdCopy(digest.toString(), state, message, clock.instant().toString()));
    if (before == null || before.state() != state || !message.equals(before.message())) {
      listener.changed();
    }
  }

  /** Sleeps as long as reading {@code bytes} more needs to keep to the scrub's rate. */
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
        throw new java.io.InterruptedIOException("cold keeper stopped");
      }
    }
  }

  /** Waits {@code d}, or until the spec changes. */
  private synchronized void sleep(Duration d) throws InterruptedException {
    if (running) {
      wait(Math.max(1, d.toMillis()));
    }
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
  }
}
