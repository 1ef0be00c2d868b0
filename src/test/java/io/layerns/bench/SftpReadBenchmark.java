package io.layerns.bench;

import io.layerns.csi.export.sftp.SftpExportConfig;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.Trees;
import io.layerns.csi.transport.remote.Peer;
import io.layerns.csi.transport.remote.SshfsTransport;
import io.layerns.system.KubeletMounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.apache.sshd.common.BaseBuilder;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.apache.sshd.server.SshServer;

/**
 * Reads a layer tree in full through a real sshfs mount of a real {@link SftpExportServer}, with
 * different server and client settings in the same run, against a local read of the same tree.
 */
public final class SftpReadBenchmark {

  /** One set of settings: applied to the server, and which of the transport's sshfs options. */
  record Variant(String name, Consumer<SshServer> server, Predicate<String> sshfsOption) {}

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    KubeletMounts.assumeRootInPrivateMountNamespace();
    long mib = Long.getLong("bench.sftpMiB", 100);
    int runs = Integer.getInteger("bench.sftpRuns", 3);
    List<Variant> variants = variants();

    Path work = Files.createTempDirectory("layerns-sftp-bench");
    try {
      run(work, mib << 20, runs, variants);
    } finally {
      KubeletMounts.unmountAllUnder(work);
      Trees.delete(work);
    }
    System.exit(0);
  }

  /**
   * Before: MINA's default ciphers and MACs, and sshfs without a Ciphers option, so ssh picks its
   * favourite, chacha20-poly1305. Now: the export's and the transport's own settings.
   */
  static List<Variant> variants() {
    return List.of(
        new Variant(
            "before: MINA's and ssh's default ciphers",
            s -> {
              s.setCipherFactories(BaseBuilder.setUpDefaultCiphers(false));
              s.setMacFactories(BaseBuilder.setUpDefaultMacs(false));
            },
            o -> !o.startsWith("Ciphers=")),
        new Variant("now: the export's and sshfs's settings", s -> {}, o -> true));
  }

  static void run(Path work, long bytes, int runs, List<Variant> variants) throws Exception {
    Digest layer = Digest.of("sftp-read-bench".getBytes());
    Path layers = work.resolve("store/layers");
    Path diff = Files.createDirectories(layers.resolve("sha256/" + layer.hex() + "/diff"));
    Path tar = work.resolve("layer.tar");
    long[] made = UnpackBenchmark.writeLayerTar(tar, bytes, new Random(bytes));
    Path tree = Files.createDirectories(diff.resolve("tree"));
    exec(List.of("tar", "-xf", tar.toString(), "-C", tree.toString()));
    Files.delete(tar);
    long bigBytes = Long.getLong("bench.sftpBigMiB", 32) << 20;
    byte[] chunk = new byte[1 << 20];
    Random r = new Random(1);
    try (var out = Files.newOutputStream(diff.resolve("big.bin"))) {
      for (long n = 0; n < bigBytes; n += chunk.length) {
        r.nextBytes(chunk);
        out.write(chunk);
      }
    }
    Files.createDirectories(work.resolve("host"));
    long[] local = Bench.readAll(tree);
    Path keys = KubeletMounts.keyPair(work.resolve("keys"));

    // Per variant: tree seconds, large-file seconds, server JVM and client CPU seconds.
    Map<Variant, Bench.Samples[]> figures = new LinkedHashMap<>();
    Map<Variant, String> negotiated = new LinkedHashMap<>();
    Bench.Samples localTimes = new Bench.Samples();
    // One untimed round first: class loading and JIT in the server.
    for (int i = -1; i < runs; i++) {
      long t = System.nanoTime();
      Bench.readAll(tree);
      if (i >= 0) {
        localTimes.add((System.nanoTime() - t) / 1e9);
      }
      for (Variant v : variants) {
        Path mp = Files.createDirectories(work.resolve("mnt-" + variants.indexOf(v)));
        try (SftpExportServer server =
            SftpExportServer.start(
                layers,
                new SftpExportConfig(
                    "127.0.1.2",
                    0,
                    work.resolve("host/key"),
                    java.util.Set.of(
                        io.layerns.csi.identity.NodeKey.parsePublicKey(
                            Files.readString(keys.resolve("id.pub")))),
                    SftpExportConfig.DEFAULT_USER,
                    Optional.empty()),
                sshd -> {
                  v.server().accept(sshd);
                  sshd.addSessionListener(
                      new SessionListener() {
                        @Override
                        public void sessionEvent(Session session, Event event) {
                          if (event == Event.KeyEstablished) {
                            negotiated.put(
                                v,
                                session.getNegotiatedKexParameter(KexProposalOption.S2CENC)
                                    + " / "
                                    + session.getNegotiatedKexParameter(KexProposalOption.S2CMAC));
                          }
                        }
                      });
                })) {
          int port = server.address().getPort();
          Peer peer = new Peer("peer", "127.0.1.2", port, server.hostPublicKey());
          SshfsTransport sshfs =
              new SshfsTransport(
                  SftpExportConfig.DEFAULT_USER, keys.resolve("id"), work.resolve("known_hosts"));
          sshfs.prepare(peer);
          List<String> cmd = new ArrayList<>(sshfs.mountCommand(peer, layer, mp));
          // The options are the last argument; split at the commas that are not escaped.
          cmd.set(
              cmd.size() - 1,
              String.join(
                  ",",
                  Stream.of(cmd.getLast().split("(?<!\\\\),")).filter(v.sshfsOption()).toList()));
          exec(cmd);
          try {
            double jvm0 = jvmCpu();
            double client0 = clientCpu(port);
            t = System.nanoTime();
            long[] seen = Bench.readAll(mp.resolve("tree"));
            double treeSeconds = (System.nanoTime() - t) / 1e9;
            double jvmUsed = jvmCpu() - jvm0;
            double clientUsed = clientCpu(port) - client0;
            t = System.nanoTime();
            long[] bigSeen = Bench.readAll(mp.resolve("big.bin"));
            double bigSeconds = (System.nanoTime() - t) / 1e9;
            if (seen[0] != local[0] || seen[1] != local[1] || bigSeen[1] != bigBytes) {
              throw new IllegalStateException(
                  String.format(
                      Locale.ROOT,
                      "%s: sshfs showed %,d files of %,d bytes and a large file of %,d bytes,"
                          + " not %,d files of %,d bytes and %,d",
                      v.name(),
                      seen[0],
                      seen[1],
                      bigSeen[1],
                      local[0],
                      local[1],
                      bigBytes));
            }
            if (i >= 0) {
              Bench.Samples[] f =
                  figures.computeIfAbsent(
                      v,
                      k ->
                          new Bench.Samples[] {
                            new Bench.Samples(),
                            new Bench.Samples(),
                            new Bench.Samples(),
                            new Bench.Samples()
                          });
              f[0].add(treeSeconds);
              f[1].add(bigSeconds);
              f[2].add(jvmUsed);
              f[3].add(clientUsed);
            }
          } finally {
            exec(List.of("umount", mp.toString()));
          }
        }
      }
    }
    System.out.printf(
        Locale.ROOT,
        "A layer of %s in %,d files (%,d symlinks; small text files, medium files and a few large"
            + " binaries), read file by file as the publish benchmark reads a volume, then one"
            + " file of %s; through a fresh sshfs mount of an SftpExportServer on 127.0.1.2 each"
            + " time (the server's page cache warm, the client's cold). CPU: the server's JVM"
            + " (which also runs the reader) and the sshfs and ssh processes, during the tree."
            + " %d runs after one untimed, interleaved; median (min-max).%n%n",
        Bench.mib(local[1]),
        local[0],
        made[1],
        Bench.mib(bigBytes),
        runs);
    System.out.println(
        "| settings | cipher / MAC negotiated | read the tree | throughput | one large file |"
            + " CPU server JVM | CPU sshfs + ssh |");
    System.out.println("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    System.out.printf(
        Locale.ROOT,
        "| local disk (page cache), the ceiling | | %s | %s | | | |%n",
        spread(localTimes),
        rate(local[1], localTimes.median()));
    figures.forEach(
        (v, f) ->
            System.out.printf(
                Locale.ROOT,
                "| %s | %s | %s | %s | %s | %s | %s |%n",
                v.name(),
                negotiated.get(v),
                spread(f[0]),
                rate(local[1], f[0].median()),
                rate(bigBytes, f[1].median()),
                Bench.seconds(f[2].median()),
                Bench.seconds(f[3].median())));
    List<Bench.Samples[]> all = List.copyOf(figures.values());
    if (all.size() == 2) {
      System.out.printf(
          Locale.ROOT,
          "%nNow against before: the tree %.2f× as fast, the large file %.2f× as fast.%n",
          all.get(0)[0].median() / all.get(1)[0].median(),
          all.get(0)[1].median() / all.get(1)[1].median());
    }
  }

  private static String spread(Bench.Samples s) {
    return String.format(
        Locale.ROOT,
        "%s (%s-%s)",
        Bench.seconds(s.median()),
        Bench.seconds(s.min()),
        Bench.seconds(s.max()));
  }

  private static String rate(long bytes, double seconds) {
    return String.format(Locale.ROOT, "%.0f MB/s", bytes / 1e6 / seconds);
  }

  private static double jvmCpu() {
    return ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean())
            .getProcessCpuTime()
        / 1e9;
  }

  /** CPU seconds of the sshfs and ssh processes that talk to {@code port}. */
  private static double clientCpu(int port) throws IOException {
    double sum = 0;
    try (var procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
        try {
          String cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
          if (!cmd.contains("port=" + port)) {
            continue;
          }
          String stat = Files.readString(p.resolve("stat"));
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          sum += (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException gone) {
          // exited meanwhile
        }
      }
    }
    return sum;
  }

  private static void exec(List<String> cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new IOException(cmd + " failed: " + out);
    }
  }
}
