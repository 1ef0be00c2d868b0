package io.layerns.csi.store.posix;

import java.io.IOException;
import java.nio.file.Path;

/** A failed Linux call, with its errno so that callers can tell EEXIST from EPERM. */
public final class PosixException extends IOException {
  private static final long serialVersionUID = 1L;

  private final int errno;

  PosixException(String call, Path path, int errno) {
    super(call + " " + path + ": errno " + errno + " (" + ErrnoNames.of(errno) + ")");
    this.errno = errno;
  }

  /** The errno the call failed with. */
  public int errno() {
    return errno;
  }
}
