package io.layerns.bench;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.Trees;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.system.KubeletMounts;
import io.layerns.system.PublishImage;
import io.layerns.system.PublishNode;
import io.layerns.system.PublishRegistry;
import io.layerns.system.TestNodes;
import io.layerns.testing.ControlPlane;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.zip.CRC32C;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Time to a ready volume on a node without the image: NodePublishVolume through each transport this
 * machine can run (Sshfs, Copy) against the baseline of pulling the image from a registry and
 * unpacking it on that node, as the kubelet's pull would, then mounting it as a container runtime
 * does (a read-only overlay of the layers). Also the time to read one small file and then the whole
 * volume, whose every file must have the image's content. Prints a Markdown table and writes the
 * figures to {@code bench/results/publish.csv}.
 *
 * <p>The parts are those of the kubelet-like system tests: a real control plane, the operator,
 * Debian's docker-registry on 127.0.0.1, and two nodes (node plugin and node agent each, on
 * 127.0.1.1 and 127.0.1.2) driven through the CSI socket. The peer node pulls the image once; the
 * fresh node publishes it. Between runs the volume goes and the agent drops the copies a Copy run
 * made (grace 0), and the baseline's store is deleted, so every run is cold for the fresh node; the
 * peer's copy stays, which is the point.
 *
 * <p>Images: four gzip layers (40/30/20/10% of the bytes), each a tree of many small text files,
 * medium files and a few large binaries ({@link UnpackBenchmark#writeLayerTar}). Quick mode: 10 MiB
 * and 100 MiB; {@code BENCH_FULL=1} adds 1 GiB. Mounts for real: run as root in a private mount
 * namespace (hack/bench.sh does).
 */
public final class PublishBenchmark {
  private static final String NS = "bench-publish";
  private static final Map<String, String> POOL = Map.of("layerns.bench/pool", NS);
  private static final double[] LAYER_SHARES = {0.4, 0.3, 0.2, 0.1};
  private static final String PULL = "pull + unpack + overlay (baseline)";

  /**
   * An image in the registry, with what its volume must show: {@code contents} is every regular
   * file of its layers, by path, with its CRC32C.
   */
  record Image(
      long bytes,
      String tag,
      String byDigest,
      List<Digest> layers,
      long blobBytes,
      Map<String, Long> contents,
      String smallFile,
      long smallFileBytes) {
    long files() {
      return contents.size();
    }
  }

  /** One run of one method: seconds to a ready volume, to read one small file, to read it all. */
  record Run(double ready, double readSmall, double readAll) {}

  private final Path work;
  private final KubernetesClient client;
  private final PublishRegistry registry;
  private final PublishNode peer;
  private final PublishNode fresh;
  private final CommandMounter mounter;
  private Transport transport;
  private int volumes;

  private PublishBenchmark(
      Path work,
      KubernetesClient client,
      PublishRegistry registry,
      PublishNode peer,
      PublishNode fresh) {
    this.work = work;
    this.client = client;
    this.registry = registry;
    this.peer = peer;
    this.fresh = fresh;
    this.mounter = new CommandMounter(work.resolve("baseline-scratch"));
  }

  public static void main(String[] args) throws Exception {
    Bench.quietLogs();
    KubeletMounts.assumeRootInPrivateMountNamespace();
    boolean full = Bench.full();
    List<Long> sizes =
        full ? List.of(10L << 20, 100L << 20, 1L << 30) : List.of(10L << 20, 100L << 20);
    int runs = Integer.getInteger("bench.publishRuns", 5);
    // Three runs at 1 GiB: each pull takes tens of seconds.
    int runsLarge = Integer.getInteger("bench.publishRunsLarge", 3);

    Path work = Files.createTempDirectory("layerns-publish-bench");
    // Interrupted (Ctrl-C, kill): unmounting makes the sshfs processes exit too.
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
    List<AutoCloseable> open = new ArrayList<>();
    try (ControlPlane cp = ControlPlane.start(ControlPlane.defaultBinDir())) {
      cp.applyCrds(Bench.repo().resolve("crds"));
      KubernetesClient client = cp.newAdminClient();
      PublishRegistry registry =
          PublishRegistry.start(Files.createDirectories(work.resolve("registry")));
      open.add(registry);
      LayernsOperator operator =
          new LayernsOperator(
              cp.newAdminClient(), OperatorConfig.embedded("publish-bench"), Clock.systemUTC());
      open.add(operator);
      operator.start();
      List<PublishNode> nodes = new ArrayList<>();
      // The peer holds the image; the fresh node is where the pod lands.
      for (String name : List.of("peer", "fresh")) {
        String address = "127.0.1." + (nodes.size() + 1);
        TestNodes.addReadyNode(client, name, POOL, address);
        PublishNode node = PublishNode.start(cp, name, address, work.resolve(name));
        open.add(node);
        nodes.add(node);
      }
      // One copy of each layer, the peer's; copies nobody owns or reads go at once.
      TestNodes.addNamespace(client, NS, POOL, 1, Transport.Sshfs);
      PublishBenchmark bench =
          new PublishBenchmark(work, client, registry, nodes.get(0), nodes.get(1));
      bench.run(sizes, runs, runsLarge);
      client.close();
    } finally {
      // Mounts first (the sshfs processes exit with their mounts), then the nodes and the rest.
      KubeletMounts.unmountAllUnder(work);
      for (AutoCloseable c : open.reversed()) {
        try {
          c.close();
        } catch (Exception e) {
          System.err.println("bench: closing " + c + ": " + e);
        }
      }
      List<MountTable.Entry> left = MountTable.mountsUnder(work);
      if (!left.isEmpty()) {
        System.err.println("bench: mounts left under " + work + ": " + left);
      }
      Trees.delete(work);
    }
    System.exit(0);
  }

  private void run(List<Long> sizes, int runs, int runsLarge) throws Exception {
    List<String> rows = new ArrayList<>();
    List<String> csv = new ArrayList<>();
    List<String> methods = List.of(PULL, "Sshfs (remote mount of the peer's layers)", "Copy");
    Map<Long, Map<String, Bench.Samples[]>> figures = new LinkedHashMap<>();
    String imageList = "";
    for (long size : sizes) {
      Image image = image(size);
      imageList +=
          String.format(
              Locale.ROOT,
              "%s%s (%,d files, %s of gzip blobs)",
              imageList.isEmpty() ? "" : ", ",
              Bench.mib(image.bytes()),
              image.files(),
              Bench.mib(image.blobBytes()));
      peerPulls(image);
      Map<String, Bench.Samples[]> byMethod = new LinkedHashMap<>();
      for (String m : methods) {
        byMethod.put(
            m, new Bench.Samples[] {new Bench.Samples(), new Bench.Samples(), new Bench.Samples()});
      }
      int n = size >= 1L << 30 ? runsLarge : runs;
      // One untimed run of each method first, on the first image: class loading and JIT.
      for (int i = size == sizes.getFirst() ? -1 : 0; i < n; i++) {
        for (String m : methods) {
          Run r =
              m.equals(PULL)
                  ? pullAndUnpack(image, i)
                  : publish(image, m.startsWith("Sshfs") ? Transport.Sshfs : Transport.Copy);
          System.err.printf(
              Locale.ROOT,
              "bench: publish %s run %d %s: ready %.3f s, small file %.4f s, all %.2f s%n",
              Bench.mib(size),
              i,
              m,
              r.ready(),
              r.readSmall(),
              r.readAll());
          if (i >= 0) {
            Bench.Samples[] s = byMethod.get(m);
            s[0].add(r.ready());
            s[1].add(r.readSmall());
            s[2].add(r.readAll());
          }
        }
      }
      figures.put(size, byMethod);
      double pull = byMethod.get(PULL)[0].median();
      for (String m : methods) {
        Bench.Samples[] s = byMethod.get(m);
        rows.add(
            String.format(
                Locale.ROOT,
                "| %s | %s | %s | %s | %s | %s |",
                Bench.mib(size),
                m,
                spread(s[0]),
                m.equals(PULL) ? "1×" : speedUp(pull / s[0].median()),
                spread(s[2]),
                millis(s[1])));
        csv.add(
            String.format(
                Locale.ROOT,
                "%d,%s,%d,%.6f,%.6f,%.6f,%.6f,%.6f",
                size >> 20,
                m.startsWith("Sshfs") ? "Sshfs" : m.equals(PULL) ? "pull" : "Copy",
                s[0].count(),
                s[0].median(),
                s[0].min(),
                s[0].max(),
                s[2].median(),
                s[1].median()));
      }
      deleteFiles(work.resolve("image-" + size));
    }
    Bench.writeCsv(
        "publish",
        "image_mib,method,runs,ready_median_s,ready_min_s,ready_max_s,read_all_median_s,"
            + "read_small_median_s",
        csv);

    System.out.printf(
        Locale.ROOT,
        "Images of four gzip layers (40/30/20/10%% of the bytes; many small text files, medium"
            + " files and a few large binaries): %s. %d runs per image and method (%d at 1 GiB),"
            + " interleaved; median (min-max). Registry, peer and fresh node on one machine over"
            + " loopback, so no network limit applies and every byte the peer serves is in its"
            + " page cache. The baseline pulls into a new store with the node's own importer"
            + " (download, verify digests and diff IDs, unpack, syncfs) and mounts the layers as"
            + " a read-only overlay; the fresh node's publish is NodePublishVolume on its CSI"
            + " socket, the image pinned by digest. Reads: one small file (at most 4 KiB, in the bottom"
            + " layer) first, then every file of the volume, one after another, each file's"
            + " CRC32C taken as it is read and compared with the image's own (every method pays"
            + " the same for that).%n%n",
        imageList,
        runs,
        runsLarge);
    System.out.println(
        "| image (uncompressed) | method | time to a ready volume | speed-up vs pull (pull ÷"
            + " this) | read whole volume | read one small file |");
    System.out.println("| ---: | --- | ---: | ---: | ---: | ---: |");
    rows.forEach(System.out::println);
    System.out.println();
    target(figures, sizes);
  }

  /** Says whether the target holds: Sshfs 20× faster than the pull at the largest size. */
  private static void target(Map<Long, Map<String, Bench.Samples[]>> figures, List<Long> sizes) {
    long largest = sizes.getLast();
    long smallest = sizes.getFirst();
    Map<String, Bench.Samples[]> big = figures.get(largest);
    String sshfs =
        big.keySet().stream().filter(m -> m.startsWith("Sshfs")).findFirst().orElseThrow();
    double speedUp = big.get(PULL)[0].median() / big.get(sshfs)[0].median();
    double growth = big.get(sshfs)[0].median() / figures.get(smallest).get(sshfs)[0].median();
    double pullGrowth = big.get(PULL)[0].median() / figures.get(smallest).get(PULL)[0].median();
    System.out.printf(
        Locale.ROOT,
        "Target (a ready volume from peers at least 20× faster than the pull at the largest"
            + " size, and independent of the image's size): Sshfs is %s than the pull at"
            + " %s (%s); from %s to %s its time to a ready volume grows %s while the pull's grows"
            + " %s.%n",
        speedUp(speedUp),
        Bench.mib(largest),
        speedUp >= 20 ? "met" : "**not met**",
        Bench.mib(smallest),
        Bench.mib(largest),
        Bench.ratio(growth),
        Bench.ratio(pullGrowth));
  }

  // ---- the image ------------------------------------------------------------------------------

  /** Makes the image's layers, pushes them with their config and manifest to the registry. */
  private Image image(long bytes) throws Exception {
    Layers built = writeLayers(Files.createDirectories(work.resolve("image-" + bytes)), bytes);
    List<PublishImage.LayerInfo> infos = built.infos();
    byte[] config = PublishImage.config(infos);
    byte[] manifest = PublishImage.manifest(config, infos);
    String repository = "bench/app-" + (bytes >> 20) + "m";
    for (int i = 0; i < built.blobs().size(); i++) {
      registry.pushBlob(
          repository,
          infos.get(i).digest(),
          HttpRequest.BodyPublishers.ofFile(built.blobs().get(i)));
    }
    registry.pushBlob(
        repository, Digest.of(config), HttpRequest.BodyPublishers.ofByteArray(config));
    registry.pushManifest(repository, PublishImage.MANIFEST_TYPE, manifest, "v1");
    return new Image(
        bytes,
        registry.host() + "/" + repository + ":v1",
        registry.host() + "/" + repository + "@" + Digest.of(manifest),
        infos.stream().map(PublishImage.LayerInfo::digest).toList(),
        built.blobBytes(),
        built.contents(),
        built.smallFile(),
        built.smallFileContent().length);
  }

  /**
   * The gzip layers of a benchmark image of {@code bytes} (uncompressed file content), written to
   * {@code dir}, with what they hold: every regular file with its CRC32C, and one small file (at
   * most 4 KiB, in the bottom layer) with its content.
   */
  record Layers(
      List<PublishImage.LayerInfo> infos,
      List<Path> blobs,
      Map<String, Long> contents,
      String smallFile,
      byte[] smallFileContent) {
    long blobBytes() {
      return infos.stream().mapToLong(PublishImage.LayerInfo::size).sum();
    }
  }

  /**
   * Writes the layers of a benchmark image: four gzip layers (40/30/20/10% of {@code bytes}), each
   * a tree of many small text files, medium files and a few large binaries under a folder of its
   * own ({@code l0/} to {@code l3/}), as {@link UnpackBenchmark#writeLayerTar} makes them.
   */
  static Layers writeLayers(Path dir, long bytes) throws Exception {
    List<PublishImage.LayerInfo> infos = new ArrayList<>();
    List<Path> blobs = new ArrayList<>();
    Map<String, Long> contents = new HashMap<>();
    String smallFile = null;
    byte[] smallFileContent = null;
    for (int i = 0; i < LAYER_SHARES.length; i++) {
      Path tar = dir.resolve("layer-" + i + ".tar");
      long[] counts =
          UnpackBenchmark.writeLayerTar(
              tar, (long) (bytes * LAYER_SHARES[i]), new Random(bytes + i), "l" + i + "/");
      Map<String, Long> layerContents = checksums(tar);
      if (layerContents.size() != counts[0]) {
        throw new IllegalStateException(
            tar + " lists " + layerContents.size() + " files, not the " + counts[0] + " written");
      }
      contents.putAll(layerContents);
      if (i == 0) {
        Map.Entry<String, byte[]> small = firstSmallFile(tar);
        smallFile = small.getKey();
        smallFileContent = small.getValue();
      }
      Digest diffId = Digest.parse(UnpackBenchmark.sha256(tar));
      Path gz = dir.resolve("layer-" + i + ".tar.gz");
      Process p =
          new ProcessBuilder("gzip", "-6", "-n", "-c", tar.toString())
              .redirectOutput(gz.toFile())
              .redirectError(ProcessBuilder.Redirect.INHERIT)
              .start();
      if (p.waitFor() != 0) {
        throw new IllegalStateException("gzip " + tar + " failed");
      }
      Files.delete(tar);
      infos.add(
          new PublishImage.LayerInfo(
              Digest.parse(UnpackBenchmark.sha256(gz)), Files.size(gz), diffId));
      blobs.add(gz);
    }
    return new Layers(
        List.copyOf(infos), List.copyOf(blobs), Map.copyOf(contents), smallFile, smallFileContent);
  }

  /** The bytes of file content the layers of an image of {@code bytes} hold. */
  static long layerBytes(long bytes) {
    long sum = 0;
    for (double share : LAYER_SHARES) {
      sum += (long) (bytes * share);
    }
    return sum;
  }

  /** Each regular file of a layer tar, by path, with the CRC32C of its content. */
  static Map<String, Long> checksums(Path tar) throws IOException {
    Map<String, Long> out = new HashMap<>();
    byte[] buf = new byte[1 << 16];
    try (InputStream in = new BufferedInputStream(Files.newInputStream(tar), 1 << 20);
        TarArchiveInputStream t = new TarArchiveInputStream(in)) {
      for (TarArchiveEntry e = t.getNextEntry(); e != null; e = t.getNextEntry()) {
        // isFile() is true for symbolic links too; the volume's walk counts regular files only.
        if (e.isFile() && !e.isSymbolicLink() && !e.isLink()) {
          CRC32C crc = new CRC32C();
          for (int n; (n = t.read(buf)) > 0; ) {
            crc.update(buf, 0, n);
          }
          out.put(e.getName(), crc.getValue());
        }
      }
    }
    return out;
  }

  private static Map.Entry<String, byte[]> firstSmallFile(Path tar) throws IOException {
    try (InputStream in = Files.newInputStream(tar);
        TarArchiveInputStream t = new TarArchiveInputStream(in)) {
      for (TarArchiveEntry e = t.getNextEntry(); e != null; e = t.getNextEntry()) {
        if (e.isFile() && !e.isSymbolicLink() && e.getSize() > 0 && e.getSize() <= 4096) {
          return Map.entry(e.getName(), t.readAllBytes());
        }
      }
    }
    throw new IllegalStateException(tar + " has no file of at most 4 KiB");
  }

  /** The peer pulls the image from the registry and reports every layer Present. */
  private void peerPulls(Image image) throws Exception {
    long t = System.nanoTime();
    peer.importer.pull(ImageReference.parse(image.tag()), DockerConfig.EMPTY);
    System.err.printf(
        Locale.ROOT,
        "bench: peer pulled %s in %.1f s%n",
        Bench.mib(image.bytes()),
        (System.nanoTime() - t) / 1e9);
    peer.agent.agent().trigger();
    List<String> digests = image.layers().stream().map(Digest::toString).toList();
    await("the peer reports every layer of the " + Bench.mib(image.bytes()) + " image Present")
        .atMost(Duration.ofSeconds(120))
        .until(
            () -> {
              var s =
                  client
                      .resources(io.layerns.api.v1alpha1.LayerStore.class)
                      .withName(peer.name)
                      .get();
              return s != null
                  && s.getStatus() != null
                  && s.getStatus().layers() != null
                  && s.getStatus().layers().stream()
                      .filter(h -> h.state() == CopyState.Present)
                      .map(HeldLayer::digest)
                      .toList()
                      .containsAll(digests);
            });
  }

  // ---- the methods ----------------------------------------------------------------------------

  /** The baseline: a fresh store pulls and unpacks the image; an overlay of its layers. */
  private Run pullAndUnpack(Image image, int run) throws Exception {
    Path root = work.resolve("baseline-" + run);
    Path target = Files.createDirectories(work.resolve("baseline-rootfs-" + run));
    Files.createDirectories(work.resolve("baseline-scratch"));
    sync();
    double ready;
    try (LocalLayerStore store = LocalLayerStore.open(root)) {
      ImageImporter importer =
          new ImageImporter(
              store,
              new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
              Platform.LINUX_AMD64);
      long t = System.nanoTime();
      PulledImage pulled = importer.pull(ImageReference.parse(image.tag()), DockerConfig.EMPTY);
      List<Path> lowers = new ArrayList<>();
      for (PulledImage.Layer l : pulled.layers()) {
        lowers.add(store.layer(l.digest()).orElseThrow().directory());
      }
      mounter.mountReadOnlyOverlay(lowers, target);
      ready = (System.nanoTime() - t) / 1e9;
      try {
        return reads(image, target, ready);
      } finally {
        mounter.unmount(target);
      }
    } finally {
      Trees.delete(root);
      Files.delete(target);
    }
  }

  /** NodePublishVolume on the fresh node through {@code t}; then unpublish, and drop its copies. */
  private Run publish(Image image, Transport t) throws Exception {
    useTransport(t);
    sync();
    long start = System.nanoTime();
    PublishNode.Volume v = fresh.publish(image.byDigest(), "bench-" + ++volumes, true);
    double ready = (System.nanoTime() - start) / 1e9;
    try {
      return reads(image, v.target(), ready);
    } finally {
      fresh.unpublish(v);
      // Cold for the next run: no sshfs mount left, and no copy a Copy run made.
      await("the fresh node lets go of the volume's mounts and copies")
          .atMost(Duration.ofSeconds(120))
          .pollInterval(Duration.ofMillis(100))
          .until(
              () ->
                  MountTable.mountsUnder(fresh.pluginState).isEmpty()
                      && MountTable.mountsUnder(fresh.kubeletDir).isEmpty()
                      && fresh.agent.store().listLayers().isEmpty());
    }
  }

  /** Sets the namespace's transport and waits until the fresh node's store spec carries it. */
  private void useTransport(Transport t) {
    if (t == transport) {
      return;
    }
    TestNodes.addNamespace(client, NS, POOL, 1, t);
    await("the fresh node's spec says " + t)
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              var s =
                  client
                      .resources(io.layerns.api.v1alpha1.LayerStore.class)
                      .withName(fresh.name)
                      .get();
              return s != null && s.getSpec() != null && s.getSpec().transport() == t;
            });
    transport = t;
  }

  // ---- reading the volume ---------------------------------------------------------------------

  /**
   * Reads one small file, then every file; fails unless the volume shows every file of the image
   * with its content (a CRC32C of each file, taken as it is read, against the image's own list).
   * Every method, the baseline too, reads through this, so each pays the same for the check.
   */
  private static Run reads(Image image, Path volume, double ready) throws IOException {
    long t = System.nanoTime();
    byte[] small = Files.readAllBytes(volume.resolve(image.smallFile()));
    double readSmall = (System.nanoTime() - t) / 1e9;
    CRC32C smallCrc = new CRC32C();
    smallCrc.update(small);
    if (small.length != image.smallFileBytes()
        || smallCrc.getValue() != image.contents().get(image.smallFile())) {
      throw new IllegalStateException(
          image.smallFile()
              + " has "
              + small.length
              + " bytes that are not the image's "
              + image.smallFileBytes());
    }
    Map<String, Long> seen = new HashMap<>(image.contents().size() * 2);
    t = System.nanoTime();
    long[] counts = Bench.readAll(volume, seen);
    double readAll = (System.nanoTime() - t) / 1e9;
    // Each layer's files are under a folder of their own, so the volume shows them all.
    if (counts[0] != image.files() || counts[1] != layerBytes(image.bytes())) {
      throw new IllegalStateException(
          String.format(
              Locale.ROOT,
              "the volume at %s shows %,d files of %,d bytes, not %,d files of %,d bytes",
              volume,
              counts[0],
              counts[1],
              image.files(),
              layerBytes(image.bytes())));
    }
    requireSameContents(image.contents(), seen, volume);
    return new Run(ready, readSmall, readAll);
  }

  /**
   * Fails unless {@code seen} (what {@link Bench#readAll(Path, Map)} saw) has every file of {@code
   * expected} with the same CRC32C, and no other file; the message names the first few of each.
   */
  static void requireSameContents(Map<String, Long> expected, Map<String, Long> seen, Path volume) {
    if (seen.equals(expected)) {
      return;
    }
    List<String> missing = new ArrayList<>();
    List<String> changed = new ArrayList<>();
    for (var e : expected.entrySet()) {
      Long crc = seen.get(e.getKey());
      if (crc == null) {
        missing.add(e.getKey());
      } else if (!crc.equals(e.getValue())) {
        changed.add(e.getKey());
      }
    }
    List<String> extra =
        seen.keySet().stream().filter(k -> !expected.containsKey(k)).sorted().toList();
    throw new IllegalStateException(
        String.format(
            Locale.ROOT,
            "the volume at %s does not show the image's %,d files: %d missing %s, %d with other"
                + " content %s, %d not in the image %s",
            volume,
            expected.size(),
            missing.size(),
            missing.stream().sorted().limit(5).toList(),
            changed.size(),
            changed.stream().sorted().limit(5).toList(),
            extra.size(),
            extra.stream().limit(5).toList()));
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Writes out what earlier runs left dirty, so that no run pays for another's writes. */
  private static void sync() throws Exception {
    if (new ProcessBuilder("sync").inheritIO().start().waitFor() != 0) {
      throw new IllegalStateException("sync failed");
    }
  }

  private static void deleteFiles(Path dir) throws IOException {
    Trees.delete(dir);
  }

  static String spread(Bench.Samples s) {
    return String.format(
        Locale.ROOT, "%s (%s-%s)", Bench.seconds(s.median()), num(s.min()), num(s.max()));
  }

  private static String num(double seconds) {
    return seconds < 10
        ? String.format(Locale.ROOT, "%.2f", seconds)
        : String.format(Locale.ROOT, "%.1f", seconds);
  }

  private static String millis(Bench.Samples s) {
    return String.format(
        Locale.ROOT, "%.1f ms (%.1f-%.1f)", s.median() * 1e3, s.min() * 1e3, s.max() * 1e3);
  }

  static String speedUp(double r) {
    return r >= 10
        ? String.format(Locale.ROOT, "%.0f× faster", r)
        : r >= 1
            ? String.format(Locale.ROOT, "%.1f× faster", r)
            : String.format(Locale.ROOT, "%.1f× slower", 1 / r);
  }
}
