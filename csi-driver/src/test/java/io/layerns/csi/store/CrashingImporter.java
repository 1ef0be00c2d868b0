package io.layerns.csi.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Child-JVM program for crash tests: imports a layer and, at the named checkpoint, says so on
 * stdout and blocks until the parent kills it with SIGKILL.
 *
 * <p>Arguments: store root, checkpoint name, occurrence of it to stop at, layer blob file, digest,
 * diff ID, media type.
 */
public final class CrashingImporter {
  private CrashingImporter() {}

  public static void main(String[] args) throws IOException {
    Path root = Path.of(args[0]);
    String point = args[1];
    int occurrence = Integer.parseInt(args[2]);
    AtomicInteger seen = new AtomicInteger();
    try (LocalLayerStore store = LocalLayerStore.open(root)) {
      store.onCheckpoint(
          name -> {
            if (name.equals(point) && seen.incrementAndGet() == occurrence) {
              System.out.println("at " + name);
              System.out.flush();
              blockUntilKilled();
            }
          });
      store.importLayer(
          Digest.parse(args[4]),
          Digest.parse(args[5]),
          args[6],
          Files.newInputStream(Path.of(args[3])));
    }
    System.out.println("finished without reaching " + point);
  }

  private static void blockUntilKilled() {
    try {
      // The parent never writes to our stdin; it kills us instead.
      System.in.read();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    throw new IllegalStateException("the parent closed stdin instead of killing the importer");
  }
}
