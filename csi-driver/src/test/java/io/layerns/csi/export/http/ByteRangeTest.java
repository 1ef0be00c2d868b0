package io.layerns.csi.export.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class ByteRangeTest {
  @Test
  void parsesTheThreeForms() throws Exception {
    assertThat(ByteRange.parse("bytes=0-99", 1000)).contains(new ByteRange(0, 99));
    assertThat(ByteRange.parse("bytes=900-", 1000)).contains(new ByteRange(900, 999));
    assertThat(ByteRange.parse("bytes=-10", 1000)).contains(new ByteRange(990, 999));
    // A last byte past the end is cut to the end; a suffix longer than the blob is all of it.
    assertThat(ByteRange.parse("bytes=990-5000", 1000)).contains(new ByteRange(990, 999));
    assertThat(ByteRange.parse("bytes=-5000", 1000)).contains(new ByteRange(0, 999));
  }

  @Test
  void wholeBlobWhenNoRangeOrOneItIgnores() throws Exception {
    assertThat(ByteRange.parse(null, 10)).isEqualTo(Optional.empty());
    assertThat(ByteRange.parse("items=0-1", 10)).isEmpty();
    assertThat(ByteRange.parse("bytes=0-1,4-5", 10)).isEmpty();
  }

  @Test
  void refusesUnsatisfiableAndMalformedRanges() {
    assertThatThrownBy(() -> ByteRange.parse("bytes=1000-", 1000))
        .hasMessageContaining("starts past");
    assertThatThrownBy(() -> ByteRange.parse("bytes=5-4", 1000))
        .hasMessageContaining("ends before");
    assertThatThrownBy(() -> ByteRange.parse("bytes=-0", 1000))
        .hasMessageContaining("selects no bytes");
    assertThatThrownBy(() -> ByteRange.parse("bytes=abc", 1000)).hasMessageContaining("malformed");
    assertThatThrownBy(() -> ByteRange.parse("bytes=-", 1000)).hasMessageContaining("malformed");
    assertThatThrownBy(() -> ByteRange.parse("bytes=0-0", 0)).hasMessageContaining("starts past");
  }
}
