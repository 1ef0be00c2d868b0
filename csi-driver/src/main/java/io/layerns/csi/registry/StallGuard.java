package io.layerns.csi.registry;

import io.layerns.csi.registry.RegistryException.Reason;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Gives up on a download whose source stops sending in the middle of a body. The JDK HTTP client
 * only times out waiting for headers: a peer or registry that sends half a layer and then nothing
 * would hold the fetch (and the layer's replication) forever. A watchdog closes a body that has
 * made no progress for the stall timeout, which wakes the reader; the reader then fails with an
 * error naming the source, and the importer tries the next one.
 */
final class StallGuard {
  /** How long a body may send nothing before its source counts as stalled. */
  static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

  private static final ScheduledExecutorService WATCHDOG =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "download-stall-watchdog");
            t.setDaemon(true);
            return t;
          });

  private static final Set<Guarded> OPEN = ConcurrentHashMap.newKeySet();

  static {
    WATCHDOG.scheduleWithFixedDelay(StallGuard::check, 200, 200, TimeUnit.MILLISECONDS);
  }

  private StallGuard() {}

  /** {@code in}, failing with a clear error once it sends nothing for {@code timeout}. */
  static InputStream watch(InputStream in, Duration timeout, String source, String what) {
    Guarded g = new Guarded(in, timeout.toNanos(), source, what);
    OPEN.add(g);
    return g;
  }

  private static void check() {
    long now = System.nanoTime();
    for (Guarded g : OPEN) {
      if (now - g.lastProgress > g.timeoutNanos) {
        g.stall();
      }
    }
  }

  private static final class Guarded extends FilterInputStream {
    private final long timeoutNanos;
    private final String source;
    private final String what;
    private volatile long lastProgress = System.nanoTime();
    private volatile boolean stalled;

    Guarded(InputStream in, long timeoutNanos, String source, String what) {
      super(in);
      this.timeoutNanos = timeoutNanos;
      this.source = source;
      this.what = what;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      int n;
      try {
        n = super.read(buf, off, len);
      } catch (IOException e) {
        throw stalled ? stalledError() : e;
      }
      if (stalled) {
        // Closing the body from the watchdog may look like its end: it is not.
        throw stalledError();
      }
      lastProgress = System.nanoTime();
      return n;
    }

    private void stall() {
      OPEN.remove(this);
      stalled = true;
      try {
        in.close();
      } catch (IOException | RuntimeException e) {
        // The reader wakes up either way; its error says why.
      }
    }

    private RegistryException stalledError() {
      return new RegistryException(
          Reason.UNAVAILABLE,
          source,
          -1,
          "sent nothing for "
              + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos)
              + "s in the middle of "
              + what
              + ": gave up on it");
    }

    @Override
    public void close() throws IOException {
      OPEN.remove(this);
      super.close();
    }
  }
}
