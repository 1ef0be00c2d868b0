package io.layerns.csi.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.export.Cmd;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.registry.Credentials;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.registry.TokenServer;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.TestNodeKeys;
import io.layerns.testing.ManagedProcess;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real containerd 2.x pulls an image through the mirror, with the image's registry stopped: its
 * {@code hosts.toml} names the mirror, the mirror's node lacks the image, and a member peer holds
 * it (the real HTTP export). containerd's content store ends up with every blob, and the mirror's
 * node with every layer as a held layer.
 */
class ContainerdMirrorIT {
  private static final Path BIN =
      Path.of(System.getProperty("layerns.cache", "/var/cache/layerns")).resolve("bin");

  @TempDir Path tmp;

  @Test
  void containerdPullsAnImageThroughTheMirrorFromAPeerWhileTheRegistryIsStopped() throws Exception {
    assumeTrue(
        Files.isExecutable(BIN.resolve("containerd")), "needs containerd (make controlplane)");
    assumeTrue(Files.isExecutable(RegistryServer.BINARY), "needs Debian's docker-registry");
    TestImage image = TestImage.threeLayers("containerd-mirror", Platform.LINUX_AMD64);
    KeyPair peerKey = TestNodeKeys.generate();
    KeyPair nodeKey = TestNodeKeys.generate();
    RegistryClient registryClient =
        new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8"));
    NodeMetrics metrics = NodeMetrics.prometheus();

    try (LocalLayerStore peerStore = LocalLayerStore.open(tmp.resolve("peer"));
        LocalLayerStore store = LocalLayerStore.open(tmp.resolve("node"))) {
      // The registry holds the image; the peer pulled it from there; then the registry stops.
      String upstream;
      try (RegistryServer registry =
          RegistryServer.start(Files.createDirectories(tmp.resolve("registry")), null)) {
        new RegistryPusher(registry.url(), null).push("team/app", image, "v1");
        upstream = registry.host();
        new ImageImporter(peerStore, registryClient, Platform.LINUX_AMD64)
            .pull(ImageReference.parse(upstream + "/team/app:v1"), DockerConfig.EMPTY);
      }
      String ref = upstream + "/team/app@" + image.manifestDigest();

      try (HttpExportServer peerExport =
              HttpExportServer.start(
                  peerStore,
                  new InetSocketAddress("127.0.1.1", 0),
                  Set.of(InetAddress.getByName("127.0.1.3")),
                  peerKey);
          MirrorServer mirror =
              startMirror(store, registryClient, peerExport, peerKey, nodeKey, image, metrics);
          ManagedProcess containerd = startContainerd()) {
        Path hosts = hostsDir(upstream, mirror);

        // Without the mirror the pull fails: the registry is really gone.
        Cmd direct = ctr("images", "pull", "--plain-http", "--platform", "linux/amd64", ref);
        assertThat(direct.exitCode()).as(direct.output()).isNotZero();

        Cmd pull =
            ctr(
                "images",
                "pull",
                "--hosts-dir",
                hosts.toString(),
                "--platform",
                "linux/amd64",
                ref);

        assertThat(pull.exitCode()).as(pull.output() + containerd.logTail(20)).isZero();
        String content = ctr("content", "ls", "-q").output();
        for (Digest d : image.blobs().keySet()) {
          assertThat(content).as("containerd's content store").contains(d.toString());
        }
        assertThat(content).contains(image.manifestDigest().toString());
        // Every byte came through the mirror (manifest, config, three layers), fetched from the
        // peer; what containerd asked twice (the manifest: HEAD, then GET) came from the store.
        long bytes =
            image.blobs().values().stream().mapToLong(b -> b.length).sum()
                + image.manifest().length;
        long layerBytes = image.layers().stream().mapToLong(l -> l.blob().length).sum();
        await()
            .atMost(Duration.ofSeconds(10))
            .untilAsserted(
                () -> {
                  String scrape = metrics.scrape();
                  assertThat(served(scrape, "peer") + served(scrape, "local")).isEqualTo(bytes);
                  assertThat(served(scrape, "peer")).isGreaterThanOrEqualTo(layerBytes);
                });
        // The layers containerd pulled are now held layers of the mirror's node.
        await()
            .atMost(Duration.ofSeconds(60))
            .until(
                () ->
                    store.listLayers().stream()
                        .map(l -> l.digest())
                        .collect(Collectors.toSet())
                        .containsAll(
                            image.layers().stream().map(TestImage.Layer::digest).toList()));
      }
    }
  }

  @Test
  void containerdGetsAPrivateImageThroughTheMirrorOnlyWithCredentialsTheRegistryAccepts()
      throws Exception {
    assumeTrue(
        Files.isExecutable(BIN.resolve("containerd")), "needs containerd (make controlplane)");
    assumeTrue(Files.isExecutable(RegistryServer.BINARY), "needs Debian's docker-registry");
    TestImage image = TestImage.threeLayers("containerd-private", Platform.LINUX_AMD64);
    RegistryClient registryClient =
        new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8"));
    NodeMetrics metrics = NodeMetrics.prometheus();
    try (TokenServer tokens =
            TokenServer.start(
                Map.of("alice", "correct horse"), Files.createDirectories(tmp.resolve("t")));
        RegistryServer registry =
            RegistryServer.start(Files.createDirectories(tmp.resolve("registry")), tokens);
        LocalLayerStore store = LocalLayerStore.open(tmp.resolve("node"))) {
      new RegistryPusher(registry.url(), tokens.issue("alice", "repository:team/secret:pull,push"))
          .push("team/secret", image, "v1");
      // The node pulled the image with the secret: the store holds it, marked private.
      ImageImporter importer = new ImageImporter(store, registryClient, Platform.LINUX_AMD64);
      importer.pull(
          ImageReference.parse(registry.host() + "/team/secret:v1"),
          DockerConfig.of(registry.host(), new Credentials("alice", "correct horse")));
      String ref = registry.host() + "/team/secret@" + image.manifestDigest();
      try (MirrorServer mirror =
              MirrorServer.start(
                  new MirrorServer.Settings(
                      Optional.of(new InetSocketAddress("127.0.0.1", 0)), Duration.ZERO, true),
                  importer,
                  null,
                  () -> NamespaceView.NONE);
          ManagedProcess containerd = startContainerd()) {
        mirror.recordTo(metrics);
        Path hosts = hostsDir(registry.host(), mirror);

        // No credentials: the mirror challenges, containerd has none to give, the registry too.
        Cmd anonymous =
            ctr(
                "images",
                "pull",
                "--hosts-dir",
                hosts.toString(),
                "--platform",
                "linux/amd64",
                ref);
        assertThat(anonymous.exitCode()).as(anonymous.output()).isNotZero();
        assertThat(ctr("content", "ls", "-q").output())
            .doesNotContain(image.configDigest().toString());
        // Wrong ones: refused by the mirror (and the registry).
        Cmd wrong =
            ctr(
                "images",
                "pull",
                "--hosts-dir",
                hosts.toString(),
                "--platform",
                "linux/amd64",
                "--user",
                "alice:wrong",
                ref);
        assertThat(wrong.exitCode()).as(wrong.output()).isNotZero();
        assertThat(ctr("content", "ls", "-q").output())
            .doesNotContain(image.configDigest().toString());
        long blobGetsBefore = blobGets(registry);
        assertThat(blobGetsBefore).as("the node's own pull, in the registry's log").isPositive();

        Cmd right =
            ctr(
                "images",
                "pull",
                "--hosts-dir",
                hosts.toString(),
                "--platform",
                "linux/amd64",
                "--user",
                "alice:correct horse",
                ref);

        assertThat(right.exitCode()).as(right.output() + containerd.logTail(20)).isZero();
        String content = ctr("content", "ls", "-q").output();
        for (Digest d : image.blobs().keySet()) {
          assertThat(content).contains(d.toString());
        }
        // The registry only answered the mirror's credential checks (HEADs): no blob left it.
        assertThat(blobGets(registry)).isEqualTo(blobGetsBefore);
        await()
            .atMost(Duration.ofSeconds(10))
            .untilAsserted(
                () ->
                    assertThat(served(metrics.scrape(), "local"))
                        .isEqualTo(
                            image.blobs().values().stream().mapToLong(b -> b.length).sum()
                                + image.manifest().length));
        assertThat(metrics.scrape())
            .doesNotContain("layerns_node_mirror_requests_total{source=\"unauthorized\"} 0.0");
      }
    }
  }

  /** GET requests for blobs in the registry's log so far. */
  private static long blobGets(RegistryServer registry) throws Exception {
    return registry
        .log()
        .lines()
        .filter(l -> l.contains("http.request.method=GET") && l.contains("/blobs/sha256:"))
        .count();
  }

  /** A containerd {@code certs.d} folder naming the mirror for {@code upstream}. */
  private Path hostsDir(String upstream, MirrorServer mirror) throws Exception {
    Path hosts = tmp.resolve("certs.d");
    Files.createDirectories(hosts.resolve(upstream));
    Files.writeString(
        hosts.resolve(upstream).resolve("hosts.toml"),
        """
        server = "http://%s"

        [host."%s"]
          capabilities = ["pull", "resolve"]
        """
            .formatted(upstream, mirror.baseUri()));
    return hosts;
  }

  private MirrorServer startMirror(
      LocalLayerStore store,
      RegistryClient registryClient,
      HttpExportServer peerExport,
      KeyPair peerKey,
      KeyPair nodeKey,
      TestImage image,
      NodeMetrics metrics)
      throws Exception {
    ImageImporter importer = new ImageImporter(store, registryClient, Platform.LINUX_AMD64);
    PeerFetcher peers = MirrorServerIT.peerFetcher(importer, peerExport, peerKey, nodeKey);
    NamespaceView ns = MirrorServerIT.peerHolding(peerExport, image);
    MirrorServer mirror =
        MirrorServer.start(
            new MirrorServer.Settings(
                Optional.of(new InetSocketAddress("127.0.0.1", 0)), Duration.ZERO, true),
            importer,
            peers,
            () -> ns);
    mirror.recordTo(metrics);
    return mirror;
  }

  /** containerd with its own root, state and socket under the test's folder, no CRI. */
  private ManagedProcess startContainerd() throws Exception {
    Path dir = tmp.resolve("containerd");
    Files.createDirectories(dir);
    Path config = dir.resolve("config.toml");
    Files.writeString(
        config,
        """
        version = 3
        root = "%1$s/root"
        state = "%1$s/state"
        disabled_plugins = ["io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
          "io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri"]
        [grpc]
          address = "%1$s/containerd.sock"
        [ttrpc]
          address = "%1$s/containerd.sock.ttrpc"
        [debug]
          address = "%1$s/debug.sock"
        # The transfer service (what ctr pulls through) unpacks only with a config for it.
        [plugins."io.containerd.transfer.v1.local"]
          [[plugins."io.containerd.transfer.v1.local".unpack_config]]
            platform = "linux/amd64"
            snapshotter = "native"
        """
            .formatted(dir));
    ManagedProcess containerd =
        ManagedProcess.start(
            "containerd",
            List.of(
                BIN.resolve("containerd").toString(),
                "--config",
                config.toString(),
                "--log-level",
                "info"),
            dir.resolve("containerd.log"));
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              if (!containerd.isAlive()) {
                throw new IllegalStateException("containerd exited: " + containerd.logTail(30));
              }
              return ctr("version").exitCode() == 0;
            });
    return containerd;
  }

  /** The mirror's bytes served from {@code source}, from a scrape. */
  private static long served(String scrape, String source) {
    String prefix = "layerns_node_mirror_served_bytes_total{source=\"" + source + "\"} ";
    return scrape
        .lines()
        .filter(l -> l.startsWith(prefix))
        .map(l -> (long) Double.parseDouble(l.substring(prefix.length())))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + prefix + " in " + scrape));
  }

  private Cmd ctr(String... args) throws Exception {
    List<String> command =
        new java.util.ArrayList<>(
            List.of(
                BIN.resolve("ctr").toString(),
                "--address",
                tmp.resolve("containerd").resolve("containerd.sock").toString()));
    command.addAll(List.of(args));
    return Cmd.run(command);
  }
}
