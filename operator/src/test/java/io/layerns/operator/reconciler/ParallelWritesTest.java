package io.layerns.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class ParallelWritesTest {

  @Test
  void everyWriteRunsAndNoMoreThanTheBoundAreInFlightAtOnce() {
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger peak = new AtomicInteger();
    // The first IN_FLIGHT writes wait for each other, so the bound is reached, not just allowed.
    CountDownLatch full = new CountDownLatch(ParallelWrites.IN_FLIGHT);
    var done = ConcurrentHashMap.<Integer>newKeySet();
    List<Runnable> writes = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      int id = i;
      writes.add(
          () -> {
            peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            full.countDown();
            try {
              full.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            done.add(id);
            inFlight.decrementAndGet();
          });
    }

    ParallelWrites.run(writes);

    assertThat(done).containsExactlyInAnyOrderElementsOf(IntStream.range(0, 200).boxed().toList());
    assertThat(peak.get()).isEqualTo(ParallelWrites.IN_FLIGHT);
  }

  @Test
  void aFailedWriteFailsTheBatchAfterTheOthersRan() {
    AtomicInteger ran = new AtomicInteger();
    List<Runnable> writes = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      int id = i;
      writes.add(
          () -> {
            ran.incrementAndGet();
            if (id == 7 || id == 30) {
              throw new IllegalStateException("write " + id + " refused");
            }
          });
    }

    assertThatThrownBy(() -> ParallelWrites.run(writes))
        .hasMessage("write 7 refused")
        .satisfies(e -> assertThat(e.getSuppressed()).hasSize(1));
    assertThat(ran.get()).isEqualTo(50);
  }
}
