package io.layerns.operator.reconciler;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * Sends the API writes of one reconcile side by side, a bounded number at a time. A cold start over
 * thousands of new digests is bound by round trips, not by the API server: one write after the
 * other took 940 s for 50,000 Layers. The bound keeps well under the API server's in-flight limit
 * for mutations (200 by default), shared with the node agents.
 */
public final class ParallelWrites {
  /** Writes in flight at once per reconcile. */
  public static final int IN_FLIGHT = 16;

  private ParallelWrites() {}

  /**
   * Runs every write and returns when all have finished; the first failure is thrown after that
   * (the others added as suppressed), so the reconcile fails and is retried as before.
   */
  public static void run(List<Runnable> writes) {
    if (writes.size() <= 1) {
      writes.forEach(Runnable::run);
      return;
    }
    Semaphore permits = new Semaphore(IN_FLIGHT);
    List<Future<?>> pending = new ArrayList<>(writes.size());
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Runnable write : writes) {
        pending.add(
            pool.submit(
                () -> {
                  permits.acquireUninterruptibly();
                  try {
                    write.run();
                  } finally {
                    permits.release();
                  }
                }));
      }
      RuntimeException failure = null;
      for (Future<?> f : pending) {
        try {
          f.get();
        } catch (ExecutionException e) {
          RuntimeException cause =
              e.getCause() instanceof RuntimeException r
                  ? r
                  : new IllegalStateException(e.getCause());
          if (failure == null) {
            failure = cause;
          } else {
            failure.addSuppressed(cause);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while writing", e);
        }
      }
      if (failure != null) {
        throw failure;
      }
    }
  }
}
