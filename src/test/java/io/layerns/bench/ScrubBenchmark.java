package io.layerns.bench;

import static org.awaitility.Awaitility.await;

import io.layerns.csi.agent.Scrubber;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import io.layerns.csi.store.Trees;
import io.layerns.system.KubeletMounts;
import io.layerns.system.PublishImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The scrub (issue 23) against what it must not hurt, in one run: the read rate the {@link
 * Scrubber} keeps against the rate it is set to, and the time to read every file of a published
 * image volume alone, then while the scrub reads other copies on the same disk at the default rate,
 * and unthrottled.
 *
 * <p>The volume is what NodePublishVolume mounts for an image the node holds: a read-only overlay
 * of the store's layer trees ({@link CommandMounter}). The scrub reads a second store on the same
 * filesystem that holds other copies, so that it never reads the volume's own files (which would
 * warm the page cache for the volume). The page cache is dropped before every timed run ({@code
 * echo 3 > /proc/sys/vm/drop_caches}), so both the volume and the scrub read from the disk; the
 * disk bytes each run read ({@code read_bytes} of {@code /proc/self/io}) are printed to show it.
 * The scrub here runs with a period so short that every copy is always due: it reads without pause
 * at its rate, the worst case for the pods (with the default period of a day, a small store is
 * scrubbed once and then idles). Mounts and drops caches: run as root in a private mount namespace
 * (hack/bench.sh does).
 */
public final class ScrubBenchmark {
  private static final String GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
  private static final String ALONE = "alone (baseline)";

  /** A rate setting of the scrub: its name in the tables and its bytes per second. */
  record Rate(String name, long bytesPerSecond) {}

  private static final Rate DEFAULT =
      new Rate(
          "default, " + Scrubber.Settings.DEFAULT.bytesPerSecond() / (1 << 20) + " MiB/s",
          Scrubber.Settings.DEFAULT.bytesPerSecond());
  private static final Rate UNTHROTTLED = new Rate("unthrottled", Long.MAX_VALUE);

  /** A period so short that every copy is always due: the scrub reads all the time. */
  private static final Duration ALWAYS_DUE = Duration.ofNanos(1);

  private final Path work;
  private final LocalLayerStore volumeStore;
  private final LocalLayerStore scrubStore;
  private final CommandMounter mounter;

  private ScrubBenchmark(Path work, LocalLayerStore volumeStore, LocalLayerStore scrubStore) {
    this.work = work;
    this.volumeStore = volumeStore;
    this.scrubStore = scrubStore;
    this.mounter = new CommandMounter(work.resolve("scratch"));
  }

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    KubeletMounts.assumeRootInPrivateMountNamespace();
    long volumeBytes = Long.getLong("bench.scrubVolumeMiB", Bench.full() ? 1024 : 100) << 20;
    long otherBytes = Long.getLong("bench.scrubOtherMiB", Bench.full() ? 4096 : 1024) << 20;
    int runs = Integer.getInteger("bench.scrubRuns", 5);
    double rateSeconds = Double.parseDouble(System.getProperty("bench.scrubRateSeconds", "10"));

    // Under /var/tmp, not /tmp: on the disk, as the node's store is, should /tmp be a tmpfs.
    Path work = Files.createTempDirectory(Path.of("/var/tmp"), "layerns-scrub-bench");
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    KubeletMounts.unmountAllUnder(work);
                  } catch (Exception e) {
                    System.err.println("bench: unmounting under " + work + ": " + e);
                  }
                }));
    try (LocalLayerStore volumeStore = LocalLayerStore.open(work.resolve("volume-store"));
        LocalLayerStore scrubStore = LocalLayerStore.open(work.resolve("scrub-store"))) {
      new ScrubBenchmark(work, volumeStore, scrubStore)
          .run(volumeBytes, otherBytes, runs, rateSeconds);
    } finally {
      KubeletMounts.unmountAllUnder(work);
      Trees.delete(work);
    }
    System.exit(0);
  }

  private void run(long volumeBytes, long otherBytes, int runs, double rateSeconds)
      throws Exception {
    loadAtStart = loadAverage();
    Image volume = importImage(volumeStore, volumeBytes);
    Image others = importImage(scrubStore, otherBytes);
    long scrubStoreBytes = scrubStore.usedBytes();
    Path target = Files.createDirectories(work.resolve("volume"));
    Files.createDirectories(work.resolve("scratch"));
    List<Path> lowers = new ArrayList<>();
    for (Digest d : volume.layers()) {
      lowers.add(volumeStore.layer(d).orElseThrow().directory());
    }
    mounter.mountReadOnlyOverlay(lowers, target);

    // The scrub's own rate, alone, from a cold cache.
    Map<Rate, Measured> rates = new LinkedHashMap<>();
    for (Rate rate : List.of(DEFAULT, UNTHROTTLED)) {
      rates.put(rate, scrubAlone(rate, rateSeconds));
    }

    // The volume read, interleaved: alone, with the scrub at its default rate, unthrottled.
    List<String> conditions = List.of(ALONE, DEFAULT.name(), UNTHROTTLED.name());
    Map<String, Bench.Samples> times = new LinkedHashMap<>();
    Map<String, Bench.Samples> scrubRates = new LinkedHashMap<>();
    Map<String, Bench.Samples> diskMiB = new LinkedHashMap<>();
    for (String c : conditions) {
      times.put(c, new Bench.Samples());
      scrubRates.put(c, new Bench.Samples());
      diskMiB.put(c, new Bench.Samples());
    }
    // One untimed round first: class loading and JIT.
    for (int i = -1; i < runs; i++) {
      for (String c : conditions) {
        Rate rate = c.equals(ALONE) ? null : c.equals(DEFAULT.name()) ? DEFAULT : UNTHROTTLED;
        VolumeRead r = readVolume(volume, target, rate);
        System.err.printf(
            Locale.ROOT,
            "bench: scrub run %d, volume read %s: %.2f s, scrub %.1f MiB/s, %.0f MiB from disk%n",
            i,
            c,
            r.seconds(),
            r.scrubBytesPerSecond() / (1 << 20),
            r.diskBytes() / (double) (1 << 20));
        if (i >= 0) {
          times.get(c).add(r.seconds());
          scrubRates.get(c).add(r.scrubBytesPerSecond() / (1 << 20));
          diskMiB.get(c).add(r.diskBytes() / (double) (1 << 20));
        }
      }
    }
    mounter.unmount(target);
    print(volume, others, scrubStoreBytes, runs, rateSeconds, rates, times, scrubRates, diskMiB);
  }

  private void print(
      Image volume,
      Image others,
      long scrubStoreBytes,
      int runs,
      double rateSeconds,
      Map<Rate, Measured> rates,
      Map<String, Bench.Samples> times,
      Map<String, Bench.Samples> scrubRates,
      Map<String, Bench.Samples> diskMiB)
      throws IOException {
    System.out.printf(
        Locale.ROOT,
        "The volume: an image of four gzip layers (%s, %,d files), mounted as NodePublishVolume"
            + " mounts an image the node holds (a read-only overlay of the store's layer trees)."
            + " The scrub: a second store on the same disk with other copies (%s of files, %s"
            + " stored with their blobs), which the scrub reads all the time (every copy always"
            + " due, the worst case for pods). The page cache is dropped before every timed run"
            + " (`echo 3 > /proc/sys/vm/drop_caches`), so both read from the disk; \"from disk\""
            + " is the run's `read_bytes` (`/proc/self/io`). Load average (1, 5, 15 min) at the"
            + " start: %s; at the end: %s (the machine is shared).%n%n",
        Bench.mib(volume.bytes()),
        volume.files(),
        Bench.mib(others.bytes()),
        Bench.mib(scrubStoreBytes),
        loadAtStart,
        loadAverage());
    System.out.printf(
        Locale.ROOT, "Scrub alone, %.0f s from a cold cache per setting:%n%n", rateSeconds);
    System.out.println(
        "| scrub rate setting | read rate (scrub's count) | from disk | of the limit |");
    System.out.println("| --- | ---: | ---: | ---: |");
    for (var e : rates.entrySet()) {
      Measured m = e.getValue();
      System.out.printf(
          Locale.ROOT,
          "| %s | %.1f MiB/s | %.1f MiB/s | %s |%n",
          e.getKey().name(),
          m.scrubBytesPerSecond() / (1 << 20),
          m.diskBytesPerSecond() / (1 << 20),
          e.getKey().bytesPerSecond() == Long.MAX_VALUE
              ? "no limit"
              : String.format(
                  Locale.ROOT,
                  "%.0f%%",
                  100 * m.scrubBytesPerSecond() / e.getKey().bytesPerSecond()));
    }
    System.out.println();
    System.out.printf(
        Locale.ROOT,
        "Reading every file of the volume (each file's CRC32C checked against the image's), %d"
            + " runs per condition after one untimed round, interleaved; median (min-max):%n%n",
        runs);
    System.out.println(
        "| while the scrub runs | read whole volume | slowdown vs alone (this ÷ alone) | scrub rate"
            + " meanwhile | from disk per run |");
    System.out.println("| --- | ---: | ---: | ---: | ---: |");
    double alone = times.get(ALONE).median();
    for (String c : times.keySet()) {
      Bench.Samples t = times.get(c);
      System.out.printf(
          Locale.ROOT,
          "| %s | %s | %s | %s | %.0f MiB |%n",
          c.equals(ALONE) ? "no scrub (baseline)" : "scrub at " + c,
          PublishBenchmark.spread(t),
          c.equals(ALONE) ? "1×" : Bench.ratio(t.median() / alone),
          c.equals(ALONE)
              ? "-"
              : String.format(Locale.ROOT, "%.1f MiB/s", scrubRates.get(c).median()),
          diskMiB.get(c).median());
    }
    System.out.println();
  }

  // ---- the measurements -----------------------------------------------------------------------

  /** A scrub's rate: as it counts its reads, and as the disk saw them. */
  record Measured(double scrubBytesPerSecond, double diskBytesPerSecond) {}

  /** One volume read: its time, the scrub's rate meanwhile, the disk bytes the run read. */
  record VolumeRead(double seconds, double scrubBytesPerSecond, long diskBytes) {}

  private Measured scrubAlone(Rate rate, double seconds) throws Exception {
    dropCaches();
    long disk0 = diskReadBytes();
    long t0 = System.nanoTime();
    Scrubber scrub = startScrub(rate);
    long read;
    long disk;
    double elapsed;
    try {
      await("the scrub reads for " + seconds + " s")
          .pollInterval(Duration.ofMillis(50))
          .atMost(Duration.ofMillis((long) (seconds * 1000) + 60_000))
          .until(() -> System.nanoTime() - t0 >= seconds * 1e9);
      // All three at the same moment: stopping takes a while (a read under way ends first).
      read = scrub.bytesRead();
      elapsed = (System.nanoTime() - t0) / 1e9;
      disk = diskReadBytes() - disk0;
    } finally {
      stop(scrub);
    }
    System.err.printf(
        Locale.ROOT,
        "bench: scrub alone at %s: %.1f MiB in %.1f s, %.1f MiB from disk%n",
        rate.name(),
        read / (double) (1 << 20),
        elapsed,
        disk / (double) (1 << 20));
    return new Measured(read / elapsed, disk / elapsed);
  }

  private VolumeRead readVolume(Image image, Path target, Rate rate) throws Exception {
    dropCaches();
    Scrubber scrub = rate == null ? null : startScrub(rate);
    try {
      if (scrub != null) {
        // Reading already, so the whole volume read overlaps the scrub.
        await("the scrub has started reading")
            .atMost(Duration.ofSeconds(30))
            .pollInterval(Duration.ofMillis(5))
            .until(() -> scrub.bytesRead() > 0);
      }
      long scrub0 = scrub == null ? 0 : scrub.bytesRead();
      long disk0 = diskReadBytes();
      Map<String, Long> seen = new HashMap<>(image.contents().size() * 2);
      long t = System.nanoTime();
      long[] counts = Bench.readAll(target, seen);
      double seconds = (System.nanoTime() - t) / 1e9;
      long disk = diskReadBytes() - disk0;
      long scrubbed = scrub == null ? 0 : scrub.bytesRead() - scrub0;
      if (counts[0] != image.files()) {
        throw new IllegalStateException(
            "the volume shows " + counts[0] + " files, not the image's " + image.files());
      }
      PublishBenchmark.requireSameContents(image.contents(), seen, target);
      return new VolumeRead(seconds, scrubbed / seconds, disk);
    } finally {
      if (scrub != null) {
        stop(scrub);
      }
    }
  }

  private Scrubber startScrub(Rate rate) {
    return new Scrubber(
            scrubStore,
            new Scrubber.Settings(rate.bytesPerSecond(), ALWAYS_DUE),
            Clock.systemUTC(),
            new Scrubber.Listener() {
              @Override
              public void verified(Digest digest, Instant at) {}

              @Override
              public void failed(Digest digest, String problem) {
                throw new IllegalStateException(
                    "the scrub found a good copy of " + digest + " bad: " + problem);
              }
            })
        .start();
  }

  /** Stops the scrub and waits until it reads no more, so no read of it spills into the next. */
  private static void stop(Scrubber scrub) {
    scrub.close();
    long[] last = {-1};
    await("the scrub stops reading")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(200))
        .until(
            () -> {
              long now = scrub.bytesRead();
              boolean still = now == last[0];
              last[0] = now;
              return still;
            });
  }

  private String loadAtStart;

  private static String loadAverage() throws IOException {
    String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
    return f[0] + " " + f[1] + " " + f[2];
  }

  /** Writes out what is dirty, then empties the page cache (and dentries and inodes). */
  private static void dropCaches() throws Exception {
    if (new ProcessBuilder("sync").inheritIO().start().waitFor() != 0) {
      throw new IllegalStateException("sync failed");
    }
    Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
  }

  /** Bytes this process caused to be read from storage so far (not from the page cache). */
  private static long diskReadBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
      if (line.startsWith("read_bytes:")) {
        return Long.parseLong(line.substring("read_bytes:".length()).strip());
      }
    }
    throw new IllegalStateException("/proc/self/io has no read_bytes line");
  }

  // ---- the images -----------------------------------------------------------------------------

  /** An image imported into a store: its layers base first, its bytes, every file's CRC32C. */
  record Image(long bytes, List<Digest> layers, Map<String, Long> contents) {
    long files() {
      return contents.size();
    }
  }

  /** Builds the layers of an image of {@code bytes} and imports them as a pull would. */
  private Image importImage(LocalLayerStore store, long bytes) throws Exception {
    Path dir = Files.createDirectories(work.resolve("image-" + bytes));
    long t = System.nanoTime();
    PublishBenchmark.Layers layers = PublishBenchmark.writeLayers(dir, bytes);
    List<Digest> digests = new ArrayList<>();
    for (int i = 0; i < layers.infos().size(); i++) {
      PublishImage.LayerInfo info = layers.infos().get(i);
      try (InputStream in = Files.newInputStream(layers.blobs().get(i))) {
        StoredLayer l = store.importLayer(info.digest(), info.diffId(), GZIP, in);
        digests.add(l.digest());
      }
    }
    Trees.delete(dir);
    System.err.printf(
        Locale.ROOT,
        "bench: scrub: %s image imported into %s in %.1f s%n",
        Bench.mib(bytes),
        store.root(),
        (System.nanoTime() - t) / 1e9);
    return new Image(bytes, digests, layers.contents());
  }
}
