package io.layerns.bench;

import ch.qos.logback.classic.Level;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.CRC32C;
import org.slf4j.LoggerFactory;

/**
 * What every benchmark main shares: quick or full size, the repository, figures and their formats.
 */
final class Bench {
  private Bench() {}

  /**
   * Full sizes only when asked ({@code BENCH_FULL=1}): the quick sizes keep {@code make bench}
   * short.
   */
  static boolean full() {
    return "1".equals(System.getenv("BENCH_FULL")) || Boolean.getBoolean("bench.full");
  }

  static Path repo() {
    return Path.of(System.getProperty("layerns.repo", ".")).toAbsolutePath().normalize();
  }

  /**
   * The operator logs a line per store it writes; at 1,000 nodes that is noise that also costs time
   * on a 2-core machine, so the benchmarks keep warnings only, and send them to stderr: stdout is
   * the Markdown table that hack/bench.sh writes to bench/results/.
   */
  static void quietLogs() {
    if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx) {
      var root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
      root.setLevel(Level.WARN);
      root.iteratorForAppenders()
          .forEachRemaining(
              a -> {
                if (a instanceof ch.qos.logback.core.ConsoleAppender<?> console) {
                  console.stop();
                  console.setTarget("System.err");
                  console.start();
                }
              });
    }
  }

  /** Heap in use after a full collection, so garbage does not count as retained. */
  static long usedHeapAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  /** Where hack/bench.sh keeps the tables, and the figures' CSV files and plots beside them. */
  static Path results() {
    return repo().resolve("bench/results");
  }

  /**
   * Writes a benchmark's figures as CSV (a header line, then one line per row) to {@code
   * bench/results/<name>.csv}, or {@code <name>-full.csv} in full mode, for {@link BenchPlots}.
   */
  static void writeCsv(String name, String header, List<String> rows) throws IOException {
    Path dir = Files.createDirectories(results());
    List<String> lines = new ArrayList<>();
    lines.add(header);
    lines.addAll(rows);
    Files.write(dir.resolve(name + (full() ? "-full" : "") + ".csv"), lines);
  }

  static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
  }

  static String seconds(double s) {
    return s < 10
        ? String.format(Locale.ROOT, "%.2f s", s)
        : String.format(Locale.ROOT, "%.1f s", s);
  }

  static String ratio(double r) {
    return String.format(Locale.ROOT, "%.2f×", r);
  }

  /** Repeated timings of one thing: the median is the figure, min and max show the spread. */
  static final class Samples {
    private final List<Double> values = new ArrayList<>();

    void add(double v) {
      values.add(v);
    }

    double median() {
      List<Double> sorted = new ArrayList<>(values);
      Collections.sort(sorted);
      int n = sorted.size();
      return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    double min() {
      return Collections.min(values);
    }

    double max() {
      return Collections.max(values);
    }

    int count() {
      return values.size();
    }
  }

  /** Reads every regular file under {@code root} to its end; returns {files, bytes}. */
  static long[] readAll(Path root) throws IOException {
    return readAll(root, null);
  }

  /**
   * As {@link #readAll(Path)}, and when {@code checksums} is not null, puts into it each file's
   * CRC32C (by its path under {@code root}), computed from the bytes as they are read: a check of
   * the content that costs little next to the read itself.
   */
  static long[] readAll(Path root, Map<String, Long> checksums) throws IOException {
    long[] seen = new long[2];
    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
            if (attrs.isRegularFile()) {
              seen[0]++;
              CRC32C crc = checksums == null ? null : new CRC32C();
              try (FileChannel ch = FileChannel.open(f)) {
                int n;
                while ((n = ch.read(buf.clear())) >= 0) {
                  seen[1] += n;
                  if (crc != null) {
                    crc.update(buf.flip());
                  }
                }
              }
              if (crc != null) {
                checksums.put(root.relativize(f).toString(), crc.getValue());
              }
            }
            return FileVisitResult.CONTINUE;
          }
        });
    return seen;
  }
}
