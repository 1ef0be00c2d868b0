package io.layerns.csi.store;

import io.layerns.csi.store.posix.PosixException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The store's filesystem has no room for a blob or layer (ENOSPC or EDQUOT, or a descriptor larger
 * than the free space). Nothing of it was kept: its work in tmp/ is removed, and the store holds
 * what it held before.
 */
public final class StoreFullException extends IOException {
  private static final long serialVersionUID = 1L;

  private static final int ENOSPC = 28;
  private static final int EDQUOT = 122;

  private final transient Digest digest;
  private final transient Path root;
  private final long needed;
  private final long free;

  StoreFullException(
      Digest digest, Path root, long needed, long free, String message, Throwable cause) {
    super(message, cause);
    this.digest = digest;
    this.root = root;
    this.needed = needed;
    this.free = free;
  }

  /** The blob or layer that did not fit. */
  public Digest digest() {
    return digest;
  }

  /** The store's directory. */
  public Path root() {
    return root;
  }

  /** The bytes it needed, or -1 when that is not known (a write ran out of room). */
  public long needed() {
    return needed;
  }

  /** The bytes free in the store's filesystem when it did not fit, or -1 when unknown. */
  public long free() {
    return free;
  }

  /** A write that failed with ENOSPC or EDQUOT, in the store at {@code root}, as a clear error. */
  static StoreFullException wrote(String what, Digest digest, Path root, IOException cause) {
    long free = freeBytes(root);
    return new StoreFullException(
        digest,
        root,
        -1,
        free,
        what
            + " "
            + digest
            + ": the store's filesystem is full (ENOSPC) at "
            + root
            + ", "
            + free
            + " bytes free; nothing of it was kept ("
            + cause.getMessage()
            + ")",
        cause);
  }

  /** Whether {@code e}, or what caused it, is the kernel saying the filesystem or quota is full. */
  static boolean isNoSpace(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof PosixException p && (p.errno() == ENOSPC || p.errno() == EDQUOT)) {
        return true;
      }
      if (t instanceof BoundedInputStream.NoRoom) {
        return true; // refused before the disk filled up: the same for the caller
      }
      // The JDK's file channels and Files report only strerror's text.
      String m = t.getMessage();
      if (m != null
          && (m.contains("No space left on device") || m.contains("Disk quota exceeded"))) {
        return true;
      }
    }
    return false;
  }

  static long freeBytes(Path root) {
    try {
      return Files.getFileStore(root).getUsableSpace();
    } catch (IOException e) {
      return -1;
    }
  }
}
