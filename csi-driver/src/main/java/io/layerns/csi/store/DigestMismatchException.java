package io.layerns.csi.store;

import java.io.IOException;

/** Content that does not hash to the digest it was stored under; nothing was kept. */
public final class DigestMismatchException extends IOException {
  private static final long serialVersionUID = 1L;

  public DigestMismatchException(String what, Digest expected, Digest actual, long size) {
    super("%s %s: the content (%d bytes) has digest %s".formatted(what, expected, size, actual));
  }
}
