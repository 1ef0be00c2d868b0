package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The scrub's rate limit against simulated reads that take time of their own. */
class ScrubPaceTest {
  private static final long MIB = 1 << 20;
  private static final long MS = 1_000_000;

  /** Reads {@code chunks} MiB, each taking {@code readNanos}; returns the MiB/s achieved. */
  private static double rate(long limit, long readNanos, int chunks) {
    long now = 0;
    Scrubber.Pace pace = new Scrubber.Pace(limit, now);
    for (int i = 0; i < chunks; i++) {
      now += pace.before(MIB, now);
      now += readNanos;
    }
    return chunks / (now / 1e9);
  }

  @Test
  void readsThatTakeTimeStillReachTheConfiguredRate() {
    // 20 ms per MiB read: the disk could give 50 MiB/s, the limit is 32.
    assertThat(rate(32 * MIB, 20 * MS, 200)).isCloseTo(32, within(0.5));
  }

  @Test
  void readsSlowerThanTheRateNeverWait() {
    long now = 0;
    Scrubber.Pace pace = new Scrubber.Pace(32 * MIB, now);
    pace.before(MIB, now);
    for (int i = 0; i < 50; i++) {
      now += 50 * MS; // 20 MiB/s: below the limit
      assertThat(pace.before(MIB, now)).isZero();
    }
  }

  @Test
  void anIdleSpellGivesNoBurstAfterIt() {
    long now = 0;
    Scrubber.Pace pace = new Scrubber.Pace(32 * MIB, now);
    now += 60_000 * MS; // a minute with nothing due
    long waited = 0;
    for (int i = 0; i < 64; i++) {
      long wait = pace.before(MIB, now);
      waited += wait;
      now += wait;
    }
    // 64 MiB at 32 MiB/s: the reads start over two seconds, not at once.
    assertThat(waited / 1e9).isCloseTo(63 / 32.0, within(0.01));
  }

  @Test
  void unthrottledNeverWaits() {
    Scrubber.Pace pace = new Scrubber.Pace(Long.MAX_VALUE, 0);
    for (int i = 0; i < 10; i++) {
      assertThat(pace.before(MIB, i)).isZero();
    }
  }
}
