package io.layerns.csi.export.http;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One byte range of a blob, parsed from a {@code Range} header (RFC 9110 section 14): {@code
 * bytes=first-last}, {@code bytes=first-} or {@code bytes=-suffixLength}.
 *
 * @param first the first byte's offset
 * @param last the last byte's offset, inclusive
 */
record ByteRange(long first, long last) {
  private static final Pattern SINGLE = Pattern.compile("bytes=(\\d{0,18})-(\\d{0,18})");

  /** A Range header this server cannot satisfy: answered with 416. */
  static final class Unsatisfiable extends Exception {
    private static final long serialVersionUID = 1L;

    Unsatisfiable(String message) {
      super(message);
    }
  }

  long length() {
    return last - first + 1;
  }

  /**
   * The range a header asks for within a blob of {@code size} bytes; empty when the whole blob is
   * to be sent: no header, another unit, or several ranges (which a server may ignore, and registry
   * clients never ask for).
   *
   * @throws Unsatisfiable when the header is malformed or the range lies outside the blob
   */
  static Optional<ByteRange> parse(String header, long size) throws Unsatisfiable {
    if (header == null) {
      return Optional.empty();
    }
    String h = header.trim();
    if (!h.regionMatches(true, 0, "bytes=", 0, 6)) {
      return Optional.empty();
    }
    h = "bytes=" + h.substring(6).replace(" ", "");
    if (h.indexOf(',') >= 0) {
      return Optional.empty();
    }
    Matcher m = SINGLE.matcher(h);
    if (!m.matches() || (m.group(1).isEmpty() && m.group(2).isEmpty())) {
      throw new Unsatisfiable("malformed range \"" + header + "\"");
    }
    if (m.group(1).isEmpty()) {
      long suffix = Long.parseLong(m.group(2));
      if (suffix == 0 || size == 0) {
        throw new Unsatisfiable("range \"" + header + "\" selects no bytes of " + size);
      }
      return Optional.of(new ByteRange(Math.max(0, size - suffix), size - 1));
    }
    long first = Long.parseLong(m.group(1));
    long last = m.group(2).isEmpty() ? size - 1 : Long.parseLong(m.group(2));
    if (first >= size) {
      throw new Unsatisfiable("range \"" + header + "\" starts past the blob's " + size + " bytes");
    }
    if (last < first) {
      throw new Unsatisfiable("range \"" + header + "\" ends before it starts");
    }
    return Optional.of(new ByteRange(first, Math.min(last, size - 1)));
  }
}
