package io.layerns.csi.store;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Fails once more than a given number of bytes were read, or once a budget says the bytes read so
 * far are too many: the defence against bombs.
 */
final class BoundedInputStream extends FilterInputStream {
  /** More bytes than allowed. */
  static final class LimitExceeded extends IOException {
    private static final long serialVersionUID = 1L;

    LimitExceeded(String message) {
      super(message);
    }
  }

  /** The disk cannot take the bytes read so far: the store treats it as ENOSPC. */
  static final class NoRoom extends IOException {
    private static final long serialVersionUID = 1L;

    NoRoom(String message) {
      super(message);
    }
  }

  /** A limit that depends on more than the count, such as the bytes read on the other side. */
  @FunctionalInterface
  interface Budget {
    /** Throws when {@code count} bytes are too many. */
    void check(long count) throws IOException;
  }

  private final long limit;
  private final Budget budget;
  private long count;

  BoundedInputStream(InputStream in, long limit) {
    this(in, limit, count -> {});
  }

  BoundedInputStream(InputStream in, long limit, Budget budget) {
    super(in);
    this.limit = limit;
    this.budget = budget;
  }

  @Override
  public int read() throws IOException {
    int b = super.read();
    if (b >= 0) {
      count(1);
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    // Ask for one byte past the limit at most, so that a bomb is caught without reading it.
    int n = super.read(b, off, (int) Math.min(len, limit - count + 1));
    if (n > 0) {
      count(n);
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    // Skipped bytes are read, so that they count and reach the digest above.
    byte[] scratch = new byte[(int) Math.max(1, Math.min(n, 8192))];
    return Math.max(0, read(scratch, 0, scratch.length));
  }

  long count() {
    return count;
  }

  private void count(int n) throws IOException {
    count += n;
    if (count > limit) {
      throw new LimitExceeded(
          "uncompressed size exceeds the limit of " + limit + " bytes (decompression bomb?)");
    }
    budget.check(count);
  }
}
