package io.layerns.bench;

import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * The node store's unpack against GNU tar on the same layers, in the same run: the store's {@code
 * importLayer} (verify the blob's digest and the diff ID, unpack inside the layer root with its
 * safety checks, keep the blob, make both durable) against {@code tar -xzf} / {@code tar --zstd
 * -xf} into a fresh directory, alone and followed by {@code sync -f} (the same syncfs the store
 * makes, so both end durable). Then sha256 throughput: Java's MessageDigest over the blob against
 * {@code sha256sum}. Prints a Markdown table.
 *
 * <p>Layers are made here: a tree of many small text files, some medium ones and a few large
 * binaries, with symlinks, as in real image layers. Quick mode: one ~100 MB layer; {@code
 * BENCH_FULL=1}: ~100 MB and ~1 GB.
 */
public final class UnpackBenchmark {
  private static final String GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
  private static final String ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

  private final Path work;
  private final int runs;
  private final List<String> rows = new ArrayList<>();
  private final List<String> hashRows = new ArrayList<>();

  private UnpackBenchmark(Path work, int runs) {
    this.work = work;
    this.runs = runs;
  }

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    boolean full = Bench.full();
    // Five runs at 100 MB: the machine is shared, so a median of three moves too much; three at 1
    // GB.
    int runs = Integer.getInteger("bench.runs", full ? 3 : 5);
    List<Long> sizes =
        full
            ? List.of(100L << 20, 1L << 30)
            : List.of(Long.getLong("bench.layerBytes", 100L << 20));
    Path work = Files.createTempDirectory("layerns-unpack-bench");
    try {
      new UnpackBenchmark(work, runs).run(sizes);
    } finally {
      io.layerns.csi.store.Trees.delete(work);
    }
  }

  private void run(List<Long> sizes) throws Exception {
    Path largestBlob = null;
    for (long size : sizes) {
      Path tar = work.resolve("layer-" + size + ".tar");
      long[] files = writeLayerTar(tar, size, new Random(size));
      String diffId = sha256(tar);
      Path gz = compress(tar, "gzip", List.of("gzip", "-6", "-n", "-c"));
      Path zst = compress(tar, "zst", List.of("zstd", "-3", "-q", "-c"));
      String label =
          String.format(
              Locale.ROOT,
              "%s (%,d files, %,d symlinks)",
              Bench.mib(Files.size(tar)),
              files[0],
              files[1]);
      Files.delete(tar);
      measure(label, "gzip", gz, GZIP, diffId, List.of("tar", "-xzf"));
      measure(label, "zstd", zst, ZSTD, diffId, List.of("tar", "--zstd", "-xf"));
      Files.delete(zst);
      if (largestBlob != null) {
        Files.delete(largestBlob);
      }
      largestBlob = gz;
    }
    hashes(largestBlob);

    System.out.printf(
        Locale.ROOT,
        "%d runs of each, alternating store and tar, each into a fresh directory on the same"
            + " filesystem; `sync -f` before every run so no run pays for another's writes."
            + " Median (min-max).%n%n",
        runs);
    System.out.println(
        "| layer (uncompressed) | compression | blob | store `importLayer` | GNU tar -x | tar -x"
            + " + sync -f | store / tar | store / (tar + sync) | store throughput |");
    System.out.println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    rows.forEach(System.out::println);
    System.out.println();
    System.out.println(
        "| sha256 over the gzip blob | median (min-max) | throughput | speed vs sha256sum |");
    System.out.println("| --- | ---: | ---: | ---: |");
    hashRows.forEach(System.out::println);
  }

  // ---- unpack -------------------------------------------------------------------------------

  private void measure(
      String label,
      String compression,
      Path blob,
      String mediaType,
      String diffId,
      List<String> tar)
      throws Exception {
    Digest digest = Digest.parse(sha256(blob));
    Digest diff = Digest.parse(diffId);
    Bench.Samples store = new Bench.Samples();
    Bench.Samples plain = new Bench.Samples();
    Bench.Samples synced = new Bench.Samples();
    // One untimed run of each first: class loading and JIT would otherwise count against the store.
    for (int i = -1; i < runs; i++) {
      // Store.
      Path root = work.resolve("store-" + i);
      sync();
      long t = System.nanoTime();
      try (LocalLayerStore s = LocalLayerStore.open(root);
          InputStream in = Files.newInputStream(blob)) {
        s.importLayer(digest, diff, mediaType, in);
      }
      double storeSeconds = (System.nanoTime() - t) / 1e9;
      io.layerns.csi.store.Trees.delete(root);

      // GNU tar, then the same with the syncfs the store makes.
      Path dir = Files.createDirectory(work.resolve("tar-" + i));
      sync();
      t = System.nanoTime();
      exec(concat(tar, List.of(blob.toString(), "-C", dir.toString())));
      double tarSeconds = (System.nanoTime() - t) / 1e9;
      exec(List.of("sync", "-f", dir.toString()));
      double syncedSeconds = (System.nanoTime() - t) / 1e9;
      io.layerns.csi.store.Trees.delete(dir);
      if (i >= 0) {
        store.add(storeSeconds);
        plain.add(tarSeconds);
        synced.add(syncedSeconds);
      }
    }
    rows.add(
        String.format(
            Locale.ROOT,
            "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f MB/s of blob |",
            label,
            compression,
            Bench.mib(Files.size(blob)),
            spread(store),
            spread(plain),
            spread(synced),
            Bench.ratio(store.median() / plain.median()),
            Bench.ratio(store.median() / synced.median()),
            Files.size(blob) / 1e6 / store.median()));
    System.err.println("bench: unpack " + compression + ": " + rows.getLast());
  }

  // ---- sha256 -------------------------------------------------------------------------------

  private void hashes(Path blob) throws Exception {
    long size = Files.size(blob);
    Bench.Samples java = new Bench.Samples();
    Bench.Samples tool = new Bench.Samples();
    sha256(blob); // warm-up: JIT and page cache
    for (int i = 0; i < runs + 2; i++) {
      long t = System.nanoTime();
      String a = sha256(blob);
      java.add((System.nanoTime() - t) / 1e9);
      t = System.nanoTime();
      String b = "sha256:" + exec(List.of("sha256sum", blob.toString())).split(" ")[0];
      tool.add((System.nanoTime() - t) / 1e9);
      if (!a.equals(b)) {
        throw new IllegalStateException("sha256 differs: " + a + " vs " + b);
      }
    }
    hashRows.add(
        String.format(
            Locale.ROOT,
            "| Java MessageDigest (%s) | %s | %.0f MB/s | %s |",
            Bench.mib(size),
            spread(java),
            size / 1e6 / java.median(),
            Bench.ratio(tool.median() / java.median())));
    hashRows.add(
        String.format(
            Locale.ROOT,
            "| sha256sum (%s) | %s | %.0f MB/s | 1.00× |",
            Bench.mib(size),
            spread(tool),
            size / 1e6 / tool.median()));
  }

  /** The blob's digest as the store computes it: MessageDigest over 1 MiB reads. */
  static String sha256(Path file) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
    try (FileChannel ch = FileChannel.open(file)) {
      while (ch.read(buf) >= 0) {
        buf.flip();
        md.update(buf);
        buf.clear();
      }
    }
    return "sha256:" + HexFormat.of().formatHex(md.digest());
  }

  // ---- the layers ---------------------------------------------------------------------------

  /**
   * Writes a layer tar of about {@code bytes}: by count mostly small text files (configs, sources,
   * scripts), by bytes mostly large binaries (libraries, executables) that compress less, in nested
   * directories, with some relative and absolute symlinks. Returns {files, symlinks}.
   */
  static long[] writeLayerTar(Path tar, long bytes, Random random) throws IOException {
    return writeLayerTar(tar, bytes, random, "");
  }

  /**
   * As {@link #writeLayerTar(Path, long, Random)}, with every path under {@code prefix} (such as
   * {@code "l2/"}), so that the layers of one image add up instead of hiding each other's files.
   */
  static long[] writeLayerTar(Path tar, long bytes, Random random, String prefix)
      throws IOException {
    String[] words = new String[4096];
    for (int i = 0; i < words.length; i++) {
      StringBuilder w = new StringBuilder();
      int len = 2 + random.nextInt(9);
      for (int j = 0; j < len; j++) {
        w.append((char) ('a' + random.nextInt(26)));
      }
      words[i] = w.toString();
    }
    long written = 0;
    long files = 0;
    long links = 0;
    List<String> dirs = new ArrayList<>();
    try (OutputStream raw = new BufferedOutputStream(Files.newOutputStream(tar), 1 << 20);
        TarArchiveOutputStream out = new TarArchiveOutputStream(raw)) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
      if (!prefix.isEmpty()) {
        TarArchiveEntry top = new TarArchiveEntry(prefix);
        top.setMode(0755);
        out.putArchiveEntry(top);
        out.closeArchiveEntry();
      }
      while (written < bytes) {
        if (dirs.isEmpty() || random.nextInt(40) == 0) {
          String parent = dirs.isEmpty() ? prefix : dirs.get(random.nextInt(dirs.size()));
          String dir = (parent.split("/").length >= 5 ? prefix : parent) + "d" + dirs.size() + "/";
          TarArchiveEntry e = new TarArchiveEntry(dir);
          e.setMode(0755);
          out.putArchiveEntry(e);
          out.closeArchiveEntry();
          dirs.add(dir);
          continue;
        }
        String dir = dirs.get(random.nextInt(dirs.size()));
        int kind = random.nextInt(100);
        if (kind < 3 && files > 0) {
          TarArchiveEntry e = new TarArchiveEntry(dir + "link" + links, TarArchiveEntry.LF_SYMLINK);
          e.setLinkName(random.nextBoolean() ? "/usr/lib/libc.so.6" : "../f" + (files - 1));
          out.putArchiveEntry(e);
          out.closeArchiveEntry();
          links++;
          continue;
        }
        // By count 90% small text (100 B-16 KiB), by bytes mostly medium files (16-512 KiB) and
        // a few large binaries (1-16 MiB): about 60 KB a file on average, as in distribution
        // layers.
        long size;
        boolean text;
        if (kind < 90) {
          size = 100 + random.nextInt(16 << 10);
          text = true;
        } else if (kind < 99 || random.nextInt(10) > 2) {
          size = (16 << 10) + random.nextInt(496 << 10);
          text = random.nextBoolean();
        } else {
          size = (1 << 20) + random.nextInt(15 << 20);
          text = false;
        }
        size = Math.min(size, Math.max(1, bytes - written));
        TarArchiveEntry e = new TarArchiveEntry(dir + "f" + files);
        e.setSize(size);
        e.setMode(random.nextInt(10) == 0 ? 0755 : 0644);
        out.putArchiveEntry(e);
        writeContent(out, size, text, random, words);
        out.closeArchiveEntry();
        written += size;
        files++;
      }
    }
    return new long[] {files, links};
  }

  private static void writeContent(
      OutputStream out, long size, boolean text, Random random, String[] words) throws IOException {
    byte[] chunk = new byte[64 << 10];
    long left = size;
    while (left > 0) {
      int n = (int) Math.min(chunk.length, left);
      if (text) {
        // Words from a small vocabulary: compresses about 3:1, like source and config files.
        int i = 0;
        while (i < n) {
          byte[] w =
              (words[random.nextInt(words.length)] + (random.nextInt(12) == 0 ? "\n" : " "))
                  .getBytes(StandardCharsets.US_ASCII);
          int k = Math.min(w.length, n - i);
          System.arraycopy(w, 0, chunk, i, k);
          i += k;
        }
      } else {
        // Machine code compresses about 2:1: random bytes in runs broken by zero padding.
        random.nextBytes(chunk);
        for (int i = 0; i < n; i += 256) {
          java.util.Arrays.fill(chunk, i, Math.min(n, i + 96 + random.nextInt(64)), (byte) 0);
        }
      }
      out.write(chunk, 0, n);
      left -= n;
    }
  }

  private Path compress(Path tar, String ext, List<String> command) throws Exception {
    Path out = work.resolve(tar.getFileName() + "." + ext);
    Process p =
        new ProcessBuilder(concat(command, List.of(tar.toString())))
            .redirectOutput(out.toFile())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(command + " failed");
    }
    return out;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private static void sync() throws Exception {
    exec(List.of("sync"));
  }

  private static String exec(List<String> command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
    }
    return out;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  private static String spread(Bench.Samples s) {
    return String.format(Locale.ROOT, "%.2f s (%.2f-%.2f)", s.median(), s.min(), s.max());
  }
}
