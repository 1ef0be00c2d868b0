package io.layerns.api.events;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Random;
import org.junit.jupiter.api.Test;

class EventRecorderTest {
  /** Go's RFC3339Micro, as the API server parses a MicroTime: exactly six fraction digits. */
  private static final String MICRO_TIME = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z";

  @Test
  void eventTimeAlwaysHasSixFractionDigits() {
    // The cases ISO_INSTANT got wrong: a whole millisecond (".577Z") and a whole second (no
    // fraction), beside ordinary ones.
    assertThat(EventRecorder.microTime(Instant.parse("2026-12-04T15:20:54.577Z")))
        .isEqualTo("2026-12-04T15:20:54.577000Z");
    assertThat(EventRecorder.microTime(Instant.parse("2026-12-04T15:20:54Z")))
        .isEqualTo("2026-12-04T15:20:54.000000Z");
    assertThat(EventRecorder.microTime(Instant.parse("2026-12-04T15:20:54.000001Z")))
        .isEqualTo("2026-12-04T15:20:54.000001Z");
    // Nanoseconds are cut, not rounded (MicroTime holds microseconds).
    assertThat(EventRecorder.microTime(Instant.parse("2026-12-04T15:20:54.123456789Z")))
        .isEqualTo("2026-12-04T15:20:54.123456Z");
  }

  @Test
  void everyInstantFormatsToTheServersLayout() {
    Random random = new Random(17);
    Instant base = Instant.parse("2026-01-01T00:00:00Z");
    for (int i = 0; i < 100_000; i++) {
      // Whole milliseconds one time in four, so the old bug would show every run.
      long micros = random.nextLong(365L * 86_400_000_000L);
      if (i % 4 == 0) {
        micros -= micros % 1000;
      }
      Instant at = base.plusNanos(micros * 1000 + random.nextInt(1000));
      String s = EventRecorder.microTime(at);
      assertThat(s).matches(MICRO_TIME);
      assertThat(Instant.parse(s)).isEqualTo(base.plusNanos(micros * 1000));
    }
  }
}
