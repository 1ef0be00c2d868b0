package io.layerns.csi.store;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Layer bytes this store has fetched, by where they came from, since the store was made: kept in a
 * file beside the store, so a restart does not reset what the namespace reports as registry bytes
 * avoided (issue 18).
 */
public final class FetchedBytes {
  private static final Logger LOG = LoggerFactory.getLogger(FetchedBytes.class);

  /** Where a layer's bytes came from. */
  public enum Origin {
    PEER,
    REGISTRY,
    /** The cold tier's bucket. */
    BUCKET
  }

  private final Path file;
  private long fromPeers;
  private long fromRegistries;
  private long fromBucket;

  FetchedBytes(Path file) {
    this.file = file;
    if (Files.exists(file)) {
      // Only figures for the status: a damaged file starts them again, it never stops the store.
      try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        Properties p = new Properties();
        p.load(in);
        fromPeers = Long.parseLong(p.getProperty("peers", "0"));
        fromRegistries = Long.parseLong(p.getProperty("registries", "0"));
        fromBucket = Long.parseLong(p.getProperty("bucket", "0"));
      } catch (IOException | IllegalArgumentException e) {
        LOG.warn("{} is unreadable, counting fetched bytes from 0 again: {}", file, e.toString());
        fromPeers = 0;
        fromRegistries = 0;
        fromBucket = 0;
      }
    }
  }

  /**
   * Counts a layer blob of {@code bytes} that arrived from {@code origin}. A count that cannot be
   * written (a full disk) is kept in memory and logged: it must never fail the fetch it counts.
   */
  public synchronized void add(Origin origin, long bytes) {
    if (bytes <= 0) {
      return;
    }
    switch (origin) {
      case PEER -> fromPeers += bytes;
      case REGISTRY -> fromRegistries += bytes;
      case BUCKET -> fromBucket += bytes;
    }
    Properties p = new Properties();
    p.setProperty("peers", Long.toString(fromPeers));
    p.setProperty("registries", Long.toString(fromRegistries));
    p.setProperty("bucket", Long.toString(fromBucket));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try {
      try (Writer out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
        p.store(out, "layer blob bytes fetched, by origin");
      }
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      LOG.warn("could not write {}; the counts live on in memory: {}", file, e.toString());
    }
  }

  public synchronized long fromPeers() {
    return fromPeers;
  }

  public synchronized long fromRegistries() {
    return fromRegistries;
  }

  public synchronized long fromBucket() {
    return fromBucket;
  }
}
