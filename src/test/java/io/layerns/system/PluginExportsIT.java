package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.export.Cmd;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node plugin process serves its store read-only over HTTP, SFTP and NFS and reports the three
 * endpoints in its LayerStore status; each is read back with a plain client (curl-like HTTP,
 * OpenSSH's sftp, libnfs's nfs-cat).
 */
@WithControlPlane
class PluginExportsIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "exports");
  private static final String ADDRESS = "127.0.1.5";

  @Test
  void pluginReportsAndServesItsThreeExports(ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    TestNodes.addReadyNode(client, "exports-1", POOL, ADDRESS);
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "served three ways\n"), 0, 1);
    // A layer the node knows only through a private image: marked, then imported, as a pull does.
    TestLayers secret = TestLayers.of(Map.of("etc/secret", "private bytes\n"), 0, 1);
    Path store = dir.resolve("store");
    try (var s = io.layerns.csi.store.LocalLayerStore.open(store)) {
      s.importLayer(
          layer.digest(), layer.diffId(), TestLayers.GZIP, new ByteArrayInputStream(layer.blob()));
      new PrivateImages(store).recordLayer(secret.digest(), List.of("registry.test/team/private"));
      s.importLayer(
          secret.digest(),
          secret.diffId(),
          TestLayers.GZIP,
          new ByteArrayInputStream(secret.blob()));
    }
    int nfsPort = freePort();

    try (var operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("exports-it"), Clock.systemUTC())) {
      operator.start();
      TestNodes.addNamespace(client, "exports", POOL, 1, Transport.Sshfs);
      ManagedProcess plugin =
          PluginProcess.start(
              cp,
              "exports-1",
              ADDRESS,
              dir,
              store,
              "--sftp-export-port=0",
              "--nfs-export-port=" + nfsPort,
              "--nfs-clients=127.0.0.1," + ADDRESS);
      try {
        StoreEndpoints endpoints =
            await("endpoints in LayerStore exports-1")
                .atMost(Duration.ofSeconds(90))
                .until(
                    () -> {
                      LayerStore st =
                          client.resources(LayerStore.class).withName("exports-1").get();
                      return st == null || st.getStatus() == null
                          ? null
                          : st.getStatus().endpoints();
                    },
                    e -> e != null && e.http() != null && e.sftp() != null && e.nfs() != null);

        // HTTP: the blob by digest, under any repository name, byte for byte.
        // Read as the node itself: its exports accept member nodes only (their addresses, and
        // TLS clients with their own keys), and it is the member; its certificate must hold the
        // key it published.
        var http =
            PeerFetcher.httpClient(
                    InetAddress.getByName(ADDRESS),
                    NodeKey.read(dir.resolve("state").resolve(NodeKey.FILE_NAME)).keyPair(),
                    StatusKeys.of(client))
                .send(
                    HttpRequest.newBuilder(
                            URI.create(endpoints.http() + "/v2/any/name/blobs/" + layer.digest()))
                        .build(),
                    HttpResponse.BodyHandlers.ofByteArray());
        assertThat(http.statusCode()).isEqualTo(200);
        assertThat(
                "sha256:"
                    + HexFormat.of()
                        .formatHex(MessageDigest.getInstance("SHA-256").digest(http.body())))
            .isEqualTo(layer.digest().toString());

        // SFTP: the unpacked layer, with the host key from the status pinned, read as the node
        // itself with the key pair its plugin made (its export accepts members' own keys only).
        String[] sftp = endpoints.sftp().split(":");
        Path knownHosts =
            Files.writeString(
                dir.resolve("known_hosts"),
                "[" + sftp[0] + "]:" + sftp[1] + " " + endpoints.sftpHostKey() + "\n");
        Path batch =
            Files.writeString(
                dir.resolve("batch"),
                "get /sha256/"
                    + layer.digest().hex()
                    + "/diff/etc/motd "
                    + dir.resolve("motd")
                    + "\n");
        PluginProcess.run(
            List.of(
                "sftp",
                "-o",
                "BindAddress=" + ADDRESS,
                "-b",
                batch.toString(),
                "-P",
                sftp[1],
                "-i",
                dir.resolve("state").resolve(NodeKey.FILE_NAME).toString(),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "UserKnownHostsFile=" + knownHosts,
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "layerns@" + sftp[0]));
        assertThat(Files.readString(dir.resolve("motd"))).isEqualTo("served three ways\n");

        // NFS: the same file through nfs-ganesha, read with libnfs.
        String nfsPath = endpoints.nfs().substring(endpoints.nfs().indexOf(':') + 1);
        String nfs =
            PluginProcess.run(
                List.of(
                    "nfs-cat",
                    "nfs://"
                        + ADDRESS
                        + nfsPath
                        + "/sha256/"
                        + layer.digest().hex()
                        + "/diff/etc/motd?version=4&nfsport="
                        + nfsPort));
        assertThat(nfs).isEqualTo("served three ways\n");
        // The private layer's tree is not exported at all: libnfs, as uid 0 from a member's
        // address (what a pod on a member node can do), finds no such path.
        Cmd hidden =
            Cmd.run(
                List.of(
                    "nfs-cat",
                    "nfs://"
                        + ADDRESS
                        + nfsPath
                        + "/sha256/"
                        + secret.digest().hex()
                        + "/diff/etc/secret?version=4&nfsport="
                        + nfsPort));
        assertThat(hidden.exitCode()).as(hidden.toString()).isNotZero();
        assertThat(hidden.output()).contains("NFS4ERR_NOENT").doesNotContain("private bytes");
      } finally {
        plugin.close();
      }
    }
  }

  /**
   * A node that joins the namespace is let into its peers' exports within seconds (membership is
   * watched), and its first copy of a layer only a peer holds arrives from that peer.
   */
  @Test
  void newMemberIsLetIntoPeersExportsWithinSecondsOfJoining(ControlPlane cp, @TempDir Path dir)
      throws Exception {
    KubernetesClient client = cp.client();
    Map<String, String> pool = Map.of("layerns.test/pool", "join");
    String holderAddress = "127.0.1.31";
    String joinerAddress = "127.0.1.32";
    TestNodes.addReadyNode(client, "join-1", pool, holderAddress);
    TestNodes.addReadyNode(client, "join-2", Map.of(), joinerAddress); // not yet selected
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "only on join-1\n"), 0, 2);
    Path holderStore = dir.resolve("store-1");
    try (var s = io.layerns.csi.store.LocalLayerStore.open(holderStore)) {
      s.importLayer(
          layer.digest(), layer.diffId(), TestLayers.GZIP, new ByteArrayInputStream(layer.blob()));
    }
    try (var operator =
            new LayernsOperator(
                cp.newAdminClient(), OperatorConfig.embedded("join-it"), Clock.systemUTC());
        ManagedProcess holder =
            PluginProcess.start(cp, "join-1", holderAddress, dir.resolve("p1"), holderStore);
        ManagedProcess joiner =
            PluginProcess.start(
                cp, "join-2", joinerAddress, dir.resolve("p2"), dir.resolve("store-2"))) {
      operator.start();
      TestNodes.addNamespace(client, "join", pool, 2, Transport.Copy);
      String blob =
          await("join-1 reports its HTTP export")
                  .atMost(Duration.ofSeconds(90))
                  .until(() -> httpEndpoint(client, "join-1"), e -> e != null)
              + "/v2/any/blobs/"
              + layer.digest();
      // Asked as join-2's plugin asks: from its address, with the key it made.
      HttpClient fromJoiner =
          PeerFetcher.httpClient(
              InetAddress.getByName(joinerAddress),
              await("join-2's node key")
                  .atMost(Duration.ofSeconds(60))
                  .ignoreExceptions()
                  .until(
                      () -> NodeKey.read(dir.resolve("p2/state").resolve(NodeKey.FILE_NAME)),
                      k -> k != null)
                  .keyPair(),
              StatusKeys.of(client));
      assertThat(status(fromJoiner, blob)).as("join-2 before it joins").isEqualTo(403);

      long joined = System.nanoTime();
      client
          .nodes()
          .withName("join-2")
          .edit(
              n ->
                  new io.fabric8.kubernetes.api.model.NodeBuilder(n)
                      .editMetadata()
                      .addToLabels(pool)
                      .endMetadata()
                      .build());
      await("join-2 reports its HTTP export")
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(50))
          .until(() -> httpEndpoint(client, "join-2"), e -> e != null);
      long reported = System.nanoTime();
      await("join-1 lets join-2 in")
          .atMost(Duration.ofSeconds(40))
          .pollInterval(Duration.ofMillis(50))
          .until(() -> status(fromJoiner, blob) == 200);
      long letIn = System.nanoTime();
      await("join-2's copy of the layer, fetched from join-1")
          .atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofMillis(100))
          .until(() -> presentOn(client, "join-2", layer.digest().toString()));
      long copied = System.nanoTime();
      System.out.printf(
          "new member: endpoints reported %d ms after joining, let in %d ms after that"
              + " (%d ms after joining), first copy Present %d ms after joining%n",
          millis(reported - joined),
          millis(letIn - reported),
          millis(letIn - joined),
          millis(copied - joined));
      assertThat(Duration.ofNanos(letIn - reported))
          .as("from join-2 reporting its export to join-1 letting it in")
          .isLessThan(Duration.ofSeconds(5));
      assertThat(Duration.ofNanos(copied - joined))
          .as("from joining to join-2's first copy from its peer")
          .isLessThan(Duration.ofSeconds(15));
    }
  }

  private static String httpEndpoint(KubernetesClient client, String node) {
    LayerStore st = client.resources(LayerStore.class).withName(node).get();
    return st == null || st.getStatus() == null || st.getStatus().endpoints() == null
        ? null
        : st.getStatus().endpoints().http();
  }

  private static boolean presentOn(KubernetesClient client, String node, String digest) {
    LayerStore st = client.resources(LayerStore.class).withName(node).get();
    return st != null
        && st.getStatus() != null
        && st.getStatus().layers() != null
        && st.getStatus().layers().stream()
            .anyMatch(
                l ->
                    l.digest().equals(digest)
                        && l.state() == io.layerns.api.v1alpha1.CopyState.Present);
  }

  private static int status(HttpClient client, String uri) throws Exception {
    return client
        .send(
            HttpRequest.newBuilder(URI.create(uri)).GET().build(),
            HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }

  private static long millis(long nanos) {
    return Duration.ofNanos(nanos).toMillis();
  }

  private static int freePort() throws java.io.IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
