package io.layerns.csi.store;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * A read failure tagged with the stream it came from, so that the unpacker can tell a broken source
 * (a network error: retry) from a corrupt layer (refuse) and from a full disk.
 */
final class ReadFailure extends IOException {
  private static final long serialVersionUID = 1L;

  /** Which stream failed. */
  enum Origin {
    SOURCE,
    DECOMPRESSION
  }

  private final Origin origin;

  private ReadFailure(Origin origin, IOException cause) {
    super(cause.getMessage(), cause);
    this.origin = origin;
  }

  Origin origin() {
    return origin;
  }

  /** Wraps a stream so that its read failures carry the given origin. */
  static InputStream tag(InputStream in, Origin origin) {
    return new FilterInputStream(in) {
      @Override
      public int read() throws IOException {
        try {
          return super.read();
        } catch (ReadFailure e) {
          throw e;
        } catch (IOException e) {
          throw new ReadFailure(origin, e);
        }
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        try {
          return super.read(b, off, len);
        } catch (ReadFailure e) {
          throw e;
        } catch (IOException e) {
          throw new ReadFailure(origin, e);
        }
      }
    };
  }
}
