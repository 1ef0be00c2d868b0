package io.layerns.csi.store;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** What rot or a hostile peer does to a stored file in tests: one bit flipped, size kept. */
public final class Corruption {
  private Corruption() {}

  /** Flips the lowest bit of the byte at {@code offset}. */
  public static void flipByte(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      int b = f.read();
      f.seek(offset);
      f.write(b ^ 0x01);
    }
  }
}
