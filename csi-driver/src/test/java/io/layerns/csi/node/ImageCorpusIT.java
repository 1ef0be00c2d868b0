package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.RealMounts;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.sftp.SftpExportConfig;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.ImageCorpus;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.CommandRemoteMounter;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.SshfsTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The image corpus ({@link ImageCorpus}: Debian minbase with its devices, busybox, ping with its
 * capability, FIFOs, many small files, large files, hardlinks and odd names), each imported on node
 * 1 and compared entry by entry with {@code umoci unpack} (type, mode, owner, content, link target,
 * device numbers, xattrs, hardlink groups), then published on node 2, which lacks it, through Sshfs
 * (node 1's real SFTP export, real sshfs) and through Copy (node 1's HTTP export), and compared
 * again as the volume's overlay shows it. Writes the table to target/corpus.md, or where {@code
 * -Dlayerns.corpus.results} says (bench/results/corpus.md holds a recorded run).
 *
 * <p>Over Sshfs, what SFTP cannot say is listed and counted rather than hidden: hardlink groups
 * (sshfs has no inode numbers, so each name is its own file) and sub-second file times (SFTP
 * carries seconds). Device nodes, FIFOs and xattrs come back through the local layers above each
 * remote layer, and are compared in full.
 */
class ImageCorpusIT {

  private static final Pattern LINKS = Pattern.compile(" links=\\[[^]]*]");
  private static final Pattern SUBSECOND = Pattern.compile("(mtime=[0-9T:-]+)(\\.[0-9]+)?Z");

  /** What each image is in the corpus for, as a listing line shows it. */
  private static final Map<String, List<String>> MUST_SHOW =
      Map.of(
          "debian-minbase",
          List.of("dev/console chardev", "dev/null chardev mode=666", "usr/bin/su file mode=4755"),
          "busybox",
          List.of("bin/sh symlink mode=777 owner=0:0 -> busybox"),
          "ping-capability",
          List.of("usr/bin/ping file", "security.capability=", "bin symlink"),
          "postfix-fifos",
          List.of("var/spool/postfix/public/pickup fifo mode=622 owner=101:102"),
          "python-stdlib",
          List.of("usr/lib/python3.11/json/__init__.py file", "__pycache__"),
          "large-files",
          List.of("data/a.bin file", "data/b.bin file"),
          "links-and-names",
          List.of("links=[a/f0, b/f0, c/g0]", "names/日本語のファイル名 file", "names/café-link"));

  @TempDir Path tmp;

  private Path cache;
  private LocalLayerStore store1;
  private ImageImporter importer1;
  private HttpExportServer http1;
  private SftpExportServer sftp1;
  private LocalLayerStore store2;
  private StoreVolumeAssembler assembler2;
  private final FixedCluster cluster = new FixedCluster();
  private CommandMounter mounter;

  @BeforeEach
  void setUp() throws Exception {
    RealMounts.assumeRoot();
    mounter = new CommandMounter(tmp.resolve("scratch"));
    cache =
        Files.createDirectories(
            Path.of(System.getProperty("layerns.cache", "/var/cache/layerns")).resolve("corpus"));
    Path keys = Files.createDirectories(tmp.resolve("keys"));
    run(List.of("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", keys.resolve("id").toString()));

    InetAddress node1 = InetAddress.getByName("127.0.1.1");
    InetAddress node2 = InetAddress.getByName("127.0.1.2");
    store1 = LocalLayerStore.open(tmp.resolve("node-1/store"));
    importer1 =
        new ImageImporter(
            store1,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    java.security.KeyPair key1 = io.layerns.csi.transport.TestNodeKeys.generate();
    http1 = HttpExportServer.start(store1, new InetSocketAddress(node1, 0), Set.of(), key1);
    sftp1 =
        SftpExportServer.start(
            tmp.resolve("node-1/store/layers"),
            new SftpExportConfig(
                node1.getHostAddress(),
                0,
                tmp.resolve("node-1/ssh_host_ecdsa_key"),
                Set.of(
                    io.layerns.csi.identity.NodeKey.parsePublicKey(
                        Files.readString(keys.resolve("id.pub")))),
                SftpExportConfig.DEFAULT_USER,
                Optional.empty()));

    store2 = LocalLayerStore.open(tmp.resolve("node-2/store"));
    ImageImporter importer2 =
        new ImageImporter(
            store2,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    Map<Transport, RemoteLayerMounts> remote = new EnumMap<>(Transport.class);
    remote.put(
        Transport.Sshfs,
        RemoteLayerMounts.open(
            tmp.resolve("node-2/remote"),
            new SshfsTransport(
                SftpExportConfig.DEFAULT_USER,
                keys.resolve("id"),
                tmp.resolve("node-2/known_hosts"),
                node2),
            new CommandRemoteMounter(Duration.ofSeconds(10))));
    assembler2 =
        new StoreVolumeAssembler(
            "node-2",
            importer2,
            new PeerFetcher(
                importer2,
                PeerFetcher.httpClient(
                    node2,
                    io.layerns.csi.transport.TestNodeKeys.generate(),
                    io.layerns.csi.transport.TestNodeKeys.published(Map.of(http1.baseUri(), key1))),
                Duration.ofSeconds(30)),
            cluster,
            remote,
            tmp.resolve("node-2/csi"));
  }

  @AfterEach
  void tearDown() throws Exception {
    RealMounts.unmountAllUnder(tmp);
    for (AutoCloseable c : new AutoCloseable[] {sftp1, http1, store1, store2}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @Test
  void everyCorpusImageMatchesUmociAfterImportAndThroughEachTransport() throws Exception {
    long buildStart = System.nanoTime();
    List<ImageCorpus.Image> images = ImageCorpus.images(cache);
    long buildMillis = (System.nanoTime() - buildStart) / 1_000_000;

    SoftAssertions soft = new SoftAssertions();
    Map<String, Row> rows = new LinkedHashMap<>();
    Map<String, List<String>> expected = new LinkedHashMap<>();
    Map<String, PulledImage> pulled = new LinkedHashMap<>();
    for (ImageCorpus.Image image : images) {
      Row row = new Row(image);
      rows.put(image.name(), row);

      long t0 = System.nanoTime();
      Path bundle = tmp.resolve("umoci/" + image.name());
      run(List.of("umoci", "unpack", "--image", image.layout() + ":" + image.tag(), bundle + ""));
      row.umociMillis = (System.nanoTime() - t0) / 1_000_000;
      List<String> want = ImageCorpus.listing(bundle.resolve("rootfs"));
      expected.put(image.name(), want);
      // The comparison means something only if umoci made what the image is there for.
      soft.assertThat(String.join("\n", want))
          .as("%s as umoci unpacks it", image.name())
          .contains(MUST_SHOW.get(image.name()));
      row.entries = want.size() - 1; // not the root
      row.hardlinkedPaths = want.stream().filter(l -> LINKS.matcher(l).find()).count();
      Trees.deleteQuietly(bundle);

      long t1 = System.nanoTime();
      PulledImage p =
          importer1.importLayout(
              image.layout(),
              ImageReference.parse("localhost/corpus/" + image.name() + ":" + image.tag()));
      row.importMillis = (System.nanoTime() - t1) / 1_000_000;
      pulled.put(image.name(), p);

      List<Path> lower = new ArrayList<>();
      for (PulledImage.Layer l : p.layers()) {
        lower.add(store1.layer(l.digest()).orElseThrow().directory());
      }
      List<String> imported = overlayListing(lower, "import-" + image.name());
      soft.assertThat(String.join("\n", imported))
          .as("%s: the store's layers against umoci unpack", image.name())
          .isEqualTo(String.join("\n", want));
      row.results.put("import", imported.equals(want) ? "same" : "DIFFERENT");
    }

    for (Transport t : List.of(Transport.Sshfs, Transport.Copy)) {
      cluster.namespace = namespace(t, pulled);
      for (ImageCorpus.Image image : images) {
        Row row = rows.get(image.name());
        PulledImage p = pulled.get(image.name());
        String volume = t + "-" + image.name();
        long t0 = System.nanoTime();
        List<Path> dirs =
            assembler2.assemble(
                new AssemblyRequest(
                    volume,
                    "localhost/corpus/" + image.name() + "@" + p.manifestDigest(),
                    new PodInfo("pod", "default", "uid-" + volume, "default"),
                    true,
                    Map.of()));
        List<String> seen;
        try {
          seen = overlayListing(dirs, volume);
        } finally {
          assembler2.release(volume);
        }
        row.publishMillis.put(t, (System.nanoTime() - t0) / 1_000_000);
        List<String> want = expected.get(image.name());
        if (t == Transport.Sshfs) {
          soft.assertThat(String.join("\n", withoutSftpLimits(seen)))
              .as("%s through Sshfs, hardlink groups and sub-second times aside", image.name())
              .isEqualTo(String.join("\n", withoutSftpLimits(want)));
          boolean same = withoutSftpLimits(seen).equals(withoutSftpLimits(want));
          row.results.put(
              "Sshfs",
              (same ? "same" : "DIFFERENT")
                  + (row.hardlinkedPaths > 0
                      ? ", " + row.hardlinkedPaths + " hardlinked names apart"
                      : ""));
        } else {
          soft.assertThat(String.join("\n", seen))
              .as("%s through %s", image.name(), t)
              .isEqualTo(String.join("\n", want));
          row.results.put(t.toString(), seen.equals(want) ? "same" : "DIFFERENT");
        }
      }
    }
    writeTable(rows.values(), buildMillis);
    soft.assertAll();
  }

  /** The listing with what SFTP cannot carry taken out: hardlink groups, sub-second times. */
  private static List<String> withoutSftpLimits(List<String> listing) {
    return listing.stream()
        .map(l -> SUBSECOND.matcher(LINKS.matcher(l).replaceAll("")).replaceAll("$1Z"))
        .toList();
  }

  /** Mounts the lower dirs as the plugin mounts a read-only volume (nodev) and lists it. */
  private List<String> overlayListing(List<Path> lowerBaseFirst, String name) throws Exception {
    Path target = Files.createDirectories(tmp.resolve("mnt/" + name));
    mounter.mountReadOnlyOverlay(lowerBaseFirst, target);
    try {
      return ImageCorpus.listing(target);
    } finally {
      mounter.unmount(target);
    }
  }

  private NamespaceView namespace(Transport t, Map<String, PulledImage> images) {
    Set<String> digests = new java.util.HashSet<>();
    images.values().forEach(p -> p.layers().forEach(l -> digests.add(l.digest().toString())));
    return new NamespaceView(
        "corpus",
        t,
        List.of(
            new NamespaceView.PeerStore(
                "node-1",
                new StoreEndpoints(
                    http1.baseUri().toString(),
                    "127.0.1.1:" + sftp1.address().getPort(),
                    sftp1.hostPublicKey(),
                    null),
                digests,
                digests)));
  }

  /** One image's figures. */
  private static final class Row {
    final ImageCorpus.Image image;
    long entries;
    long hardlinkedPaths;
    long umociMillis;
    long importMillis;
    final Map<Transport, Long> publishMillis = new EnumMap<>(Transport.class);
    final Map<String, String> results = new LinkedHashMap<>();

    Row(ImageCorpus.Image image) {
      this.image = image;
    }
  }

  private static void writeTable(java.util.Collection<Row> rows, long buildMillis)
      throws IOException {
    StringBuilder b = new StringBuilder();
    b.append("# Image corpus: import and publish against umoci unpack\n\n")
        .append("Written by ImageCorpusIT (csi-driver). Times in ms, one run on the build")
        .append(" machine; corpus built or read from the cache in ")
        .append(buildMillis)
        .append(" ms. Publish: node 2 lacks the image and reads node 1's copy (Sshfs) or")
        .append(" fetches it (Copy); the time includes mounting and listing every entry.\n\n")
        .append("| image | layers | entries | bytes (tar) | umoci unpack | import | publish Sshfs")
        .append(" | publish Copy | result |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (Row r : rows) {
      b.append("| ")
          .append(r.image.name())
          .append(" | ")
          .append(r.image.layers())
          .append(" | ")
          .append(r.entries)
          .append(" | ")
          .append(r.image.uncompressedBytes())
          .append(" | ")
          .append(r.umociMillis)
          .append(" | ")
          .append(r.importMillis)
          .append(" | ")
          .append(r.publishMillis.getOrDefault(Transport.Sshfs, -1L))
          .append(" | ")
          .append(r.publishMillis.getOrDefault(Transport.Copy, -1L))
          .append(" | ")
          .append(
              String.join(
                  "; ",
                  r.results.entrySet().stream()
                      .map(e -> e.getKey() + ": " + e.getValue())
                      .toList()))
          .append(" |\n");
    }
    // make test writes its table under target/ (a test run must not rewrite a committed results
    // file); -Dlayerns.corpus.results=bench/results/corpus.md records a run for the docs.
    Path out =
        Path.of(
            System.getProperty(
                "layerns.corpus.results",
                Files.createDirectories(Path.of("target")) + "/corpus.md"));
    Files.writeString(out, b.toString(), StandardCharsets.UTF_8);
  }

  private static void run(List<String> command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(10, TimeUnit.MINUTES)).as("%s finishes", command).isTrue();
    assertThat(p.exitValue()).as("%s: %s", command, out).isZero();
  }

  /** The cluster as node 2 sees it: node 1 holds every corpus layer. */
  private static final class FixedCluster implements ClusterView {
    volatile NamespaceView namespace = NamespaceView.NONE;

    @Override
    public NamespaceView namespace() {
      return namespace;
    }
  }

  /** Deletes a folder tree; umoci's bundles are large and the next image needs the space. */
  private static final class Trees {
    static void deleteQuietly(Path p) throws IOException {
      io.layerns.csi.store.Trees.delete(p);
    }
  }
}
