package io.layerns.system;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Watches the chaos cluster's disks all the time, not only when a step has converged: every moment
 * a layer that had a verified copy has no copy on any disk (bar copies the test rotted) is a loss,
 * unless the step's own failures took every verified copy (the model allows those). A publish that
 * re-pulls a lost layer from the registry can no longer hide a transient total loss.
 *
 * <p>It lists the layer directories only (a copy appears and goes by an atomic rename), every
 * {@value #SCAN_MILLIS} ms; the re-hash of every copy stays with the convergence checks.
 */
final class LossWatch implements AutoCloseable {
  private static final long SCAN_MILLIS = 100;

  private volatile Set<Digest> watched = Set.of();
  private volatile Map<String, Set<Digest>> rotten = Map.of();
  private final List<String> losses = new ArrayList<>();
  private final Set<Digest> reported = new HashSet<>();
  private final AtomicLong scans = new AtomicLong();
  private Thread thread;
  private volatile boolean running = true;

  void start(ChaosCluster cluster, Supplier<String> where) {
    thread =
        new Thread(
            () -> {
              while (running) {
                try {
                  scan(cluster, where);
                  Thread.sleep(SCAN_MILLIS);
                } catch (InterruptedException e) {
                  return;
                } catch (ConcurrentModificationException | IOException e) {
                  // a node came or went while listed: scan again
                }
              }
            },
            "chaos-loss-watch");
    thread.setDaemon(true);
    thread.start();
  }

  /** Takes what the model now requires; call after every change to its failures or its view. */
  void update(ChaosModel model) {
    Map<String, Set<Digest>> r = new HashMap<>();
    model.rotten.forEach((node, ds) -> r.put(node, Set.copyOf(ds)));
    rotten = r;
    watched = Set.copyOf(model.mustKeepACopy());
  }

  private void scan(ChaosCluster cluster, Supplier<String> where) throws IOException {
    Set<Digest> must = watched;
    Map<String, Set<Digest>> rot = rotten;
    Set<Digest> held = new HashSet<>();
    for (ChaosNode node : List.copyOf(cluster.nodes.values())) {
      Path layers = node.store.resolve("layers/sha256");
      Set<Digest> rotHere = rot.getOrDefault(node.name, Set.of());
      try (DirectoryStream<Path> dirs = Files.newDirectoryStream(layers)) {
        for (Path dir : dirs) {
          Digest d = new Digest(dir.getFileName().toString());
          if (!rotHere.contains(d)) {
            held.add(d);
          }
        }
      } catch (NoSuchFileException e) {
        // a node being removed, or not started yet
      }
    }
    if (watched != must) {
      return; // the model moved on while we listed: judge the next scan
    }
    scans.incrementAndGet();
    for (Digest d : must) {
      if (!held.contains(d)) {
        synchronized (losses) {
          if (reported.add(d)) {
            losses.add(
                where.get() + ": at " + Instant.now() + " layer " + d + " had no copy on any disk");
          }
        }
      }
    }
  }

  long scans() {
    return scans.get();
  }

  /** Fails with every loss seen so far. */
  void assertNoLoss() {
    synchronized (losses) {
      if (!losses.isEmpty()) {
        throw new AssertionError(
            "a layer that had a verified copy had none (guarantee 1): "
                + String.join("; ", losses));
      }
    }
  }

  @Override
  public void close() {
    running = false;
    if (thread != null) {
      thread.interrupt();
    }
  }
}
