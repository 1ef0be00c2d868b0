package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.export.Cmd;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.identity.PeerKeys;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.PeerSource;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.SimulatedNodes;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.keyverifier.RequiredServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.config.keys.FilePasswordProvider;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.apache.sshd.common.util.security.SecurityUtils;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, attacks 4a and 4b, on the real node plugin (its own process, real MINA SFTP export and
 * HTTP export), the operator and the real control plane; clients are OpenSSH's {@code sftp} and
 * MINA's SSH client, each leaving from the address of the node it plays.
 *
 * <p>Node {@code id-1} runs the plugin. {@code id-2}, {@code id-3} and {@code id-4} are members
 * whose plugins the test plays: each has its own key pair and writes its LayerStore status as its
 * plugin would (the test's admin client stands in for that node's plugin, which may write its own
 * status and no other). Each Node lists its address (127.0.1.5x) as the kubelet would.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MemberIdentityIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "identity");
  private static final String PLUGIN_ADDRESS = "127.0.1.51";

  private KubernetesClient client;
  private LayernsOperator operator;
  private ManagedProcess plugin;
  private Path dir;
  private Path keys;
  private String layerHex;
  private String layerDigest;
  private byte[] layerBlob;
  private StoreEndpoints endpoints;

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path dir) throws Exception {
    this.dir = dir;
    client = cp.client();
    keys = Files.createDirectories(dir.resolve("keys"));
    // "shared": the cluster key every node held before (the operator's Secret), given to the
    // plugin the way it was given then; the others are the simulated members' own keys.
    for (String k : List.of("shared", "id-2", "id-3", "id-4")) {
      Cmd.ok("ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", key(k).toString());
    }
    Files.copy(keys.resolve("shared.pub"), keys.resolve("authorized_keys"));
    for (int i = 1; i <= 4; i++) {
      SimulatedNodes.addReady(client, "id-" + i, POOL, address(i));
    }
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "members only\n"), 0, 15);
    layerHex = layer.digest().hex();
    layerDigest = layer.digest().toString();
    layerBlob = layer.blob();
    Path store = dir.resolve("store");
    try (var s = io.layerns.csi.store.LocalLayerStore.open(store)) {
      s.importLayer(
          layer.digest(), layer.diffId(), TestLayers.GZIP, new ByteArrayInputStream(layer.blob()));
    }
    operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("identity-it"), Clock.systemUTC());
    operator.start();
    TestNodes.addNamespace(client, "identity", POOL, 1, Transport.Sshfs);
    plugin =
        PluginProcess.start(
            cp,
            "id-1",
            PLUGIN_ADDRESS,
            dir.resolve("id-1"),
            store,
            "--sftp-export-port=0",
            "--sftp-authorized-keys=" + keys.resolve("authorized_keys"));
    endpoints =
        await("id-1's plugin reports its exports")
            .atMost(Duration.ofSeconds(90))
            .until(() -> endpointsOf("id-1"), e -> e != null && e.sftp() != null);
    // Each simulated member reports itself truthfully: its own key, its own address.
    for (int i = 2; i <= 4; i++) {
      report("id-" + i, address(i), Files.readString(keys.resolve("id-" + i + ".pub")));
    }
  }

  @AfterAll
  void stop() throws Exception {
    if (plugin != null) {
      plugin.close();
    }
    if (operator != null) {
      operator.close();
    }
  }

  @Test
  void theOldSharedKeyIsRefusedFromAMembersAddress() throws Exception {
    await("id-2's address let into id-1's HTTP export")
        .atMost(Duration.ofSeconds(30))
        .until(() -> httpStatus(address(2)) == 200);

    // Held for a while: a refusal that only means "membership not applied yet" proves nothing.
    await("the shared key stays refused")
        .during(Duration.ofSeconds(5))
        .atMost(Duration.ofSeconds(10))
        .until(() -> !sftpLists("shared", address(2)));
    Cmd attempt = sftp("shared", address(2));
    assertThat(attempt.exitCode()).isNotZero();
    assertThat(attempt.output()).contains("Permission denied (publickey)").doesNotContain(layerHex);
  }

  @Test
  void aKeyNoMemberPublishedIsRefusedAndAMembersOwnKeyIsAccepted() throws Exception {
    Path stranger = key("stranger");
    Cmd.ok("ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", stranger.toString());

    await("id-2 logs in to id-1's SFTP export with its own published key")
        .atMost(Duration.ofSeconds(30))
        .until(() -> sftpLists("id-2", address(2)));
    Cmd member = sftp("id-2", address(2));
    Cmd strangerAttempt = sftp("stranger", address(2));

    assertThat(member.exitCode()).as(member.toString()).isZero();
    assertThat(member.output()).contains(layerHex);
    assertThat(strangerAttempt.exitCode()).isNotZero();
    assertThat(strangerAttempt.output())
        .contains("Permission denied (publickey)")
        .doesNotContain(layerHex);
  }

  @Test
  void aRemovedMembersKeyIsRefusedWithinSecondsAndItsOpenSessionCloses() throws Exception {
    await("id-3 logs in with its own key")
        .atMost(Duration.ofSeconds(30))
        .until(() -> sftpLists("id-3", address(3)));
    try (SshClient ssh = SshClient.setUpDefaultClient()) {
      ssh.setServerKeyVerifier(
          new RequiredServerKeyVerifier(
              PublicKeyEntry.parsePublicKeyEntry(endpoints.sftpHostKey())
                  .resolvePublicKey(null, null, null)));
      ssh.start();
      ClientSession session = login(ssh, "id-3", address(3));
      SftpClient open = SftpClientFactory.instance().createSftpClient(session);
      assertThat(open.readDir("/sha256")).anyMatch(e -> e.getFilename().equals(layerHex));

      long removed = System.nanoTime();
      client
          .nodes()
          .withName("id-3")
          .edit(
              n -> new NodeBuilder(n).editMetadata().removeFromLabels(POOL).endMetadata().build());

      // From a member's address (id-2's), so that only the key can be what refuses it.
      await("id-3's key refused once id-3 left the namespace")
          .atMost(Duration.ofSeconds(15))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> !sftpLists("id-3", address(2)));
      long refused = System.nanoTime();
      await("id-3's open session closed")
          .atMost(Duration.ofSeconds(15))
          .until(() -> !session.isOpen());
      System.out.printf(
          "removed member: key refused %d ms and session closed by %d ms after the Node left%n",
          (refused - removed) / 1_000_000, (System.nanoTime() - removed) / 1_000_000);
      assertThat(sftp("id-3", address(2)).output()).contains("Permission denied (publickey)");
      assertThat(Duration.ofNanos(refused - removed)).isLessThan(Duration.ofSeconds(10));
    }
  }

  @Test
  void anAddressAMemberWritesAboutItselfIsNotLetIn() throws Exception {
    String foreign = "127.0.1.59";
    await("id-2's address let into id-1's HTTP export")
        .atMost(Duration.ofSeconds(30))
        .until(() -> httpStatus(address(2)) == 200);

    // id-4's plugin, compromised, claims an address that is no node's.
    report("id-4", foreign, Files.readString(keys.resolve("id-4.pub")));

    await("the foreign address stays out of the HTTP export")
        .during(Duration.ofSeconds(5))
        .atMost(Duration.ofSeconds(10))
        .until(() -> httpStatus(foreign) == 403);
    Cmd viaSftp = sftp("id-4", foreign);
    assertThat(viaSftp.exitCode()).isNotZero();
    assertThat(viaSftp.output()).doesNotContain(layerHex);
    // id-4 itself is still a member, from the address its Node lists.
    await("id-4's Node address let in")
        .atMost(Duration.ofSeconds(30))
        .until(() -> httpStatus(address(4)) == 200);
    assertThat(sftpLists("id-4", address(4))).isTrue();
  }

  /** Issue 15, attack 1: the HTTP export served any blob to any client from a member's address. */
  @Test
  void aClientWithoutAMembersKeyGetsNoBlobFromAMembersAddress() throws Exception {
    await("id-2's address let into id-1's HTTP export")
        .atMost(Duration.ofSeconds(30))
        .until(() -> httpStatus(address(2)) == 200);

    // A pod on id-2 behind a masquerading CNI comes from id-2's address, with no key of id-2's:
    // it speaks TLS, and even trusts id-1's key, but has no member's key to show.
    HttpResponse<byte[]> blob =
        PeerFetcher.httpClient(InetAddress.getByName(address(2)), Optional.empty(), id1())
            .send(
                HttpRequest.newBuilder(
                        URI.create(endpoints.http() + "/v2/any/blobs/" + layerDigest))
                    .build(),
                HttpResponse.BodyHandlers.ofByteArray());

    assertThat(blob.statusCode()).isEqualTo(403);
    assertThat(new String(blob.body(), java.nio.charset.StandardCharsets.UTF_8))
        .contains("presented no certificate")
        .contains("only member nodes");
  }

  @Test
  void aMemberGetsTheBlobOverTlsWithItsOwnKeyAndNoOtherKeyDoes() throws Exception {
    String uri = endpoints.http() + "/v2/any/blobs/" + layerDigest;
    assertThat(uri).startsWith("https://");
    // Each pins the key id-1 published for its export's address, as a member's plugin does.
    HttpClient member =
        PeerFetcher.httpClient(
            InetAddress.getByName(address(2)),
            NodeKey.read(key("id-2")).keyPair(),
            StatusKeys.of(client));
    HttpClient sharedKey =
        PeerFetcher.httpClient(
            InetAddress.getByName(address(2)),
            NodeKey.read(key("shared")).keyPair(),
            StatusKeys.of(client));
    HttpClient memberKeyFromElsewhere =
        PeerFetcher.httpClient(
            InetAddress.getByName("127.0.1.59"),
            NodeKey.read(key("id-2")).keyPair(),
            StatusKeys.of(client));

    HttpResponse<byte[]> got =
        await("id-2 reads the blob over TLS with its own key")
            .atMost(Duration.ofSeconds(30))
            .until(
                () ->
                    member.send(
                        HttpRequest.newBuilder(URI.create(uri)).build(),
                        HttpResponse.BodyHandlers.ofByteArray()),
                r -> r.statusCode() == 200);
    assertThat(
            "sha256:"
                + java.util.HexFormat.of()
                    .formatHex(
                        java.security.MessageDigest.getInstance("SHA-256").digest(got.body())))
        .isEqualTo(layerDigest);
    assertThat(
            sharedKey
                .send(
                    HttpRequest.newBuilder(URI.create(uri)).build(),
                    HttpResponse.BodyHandlers.ofString())
                .body())
        .contains("holds a key no member node published");
    assertThat(
            memberKeyFromElsewhere
                .send(
                    HttpRequest.newBuilder(URI.create(uri)).build(),
                    HttpResponse.BodyHandlers.discarding())
                .statusCode())
        .isEqualTo(403);
  }

  /**
   * Issue 15: the HTTP export was signed, not encrypted, so a relay on the path between two members
   * read every layer they exchanged. The relay here keeps what passes through it, in both
   * directions, while id-2 reads a blob from id-1.
   */
  @Test
  void aRelayBetweenTwoMembersSeesNoLayerByteNorWhichLayerWasAskedFor() throws Exception {
    URI export = URI.create(endpoints.http());
    try (ThrottledProxy relay =
        ThrottledProxy.unthrottled(
            new java.net.InetSocketAddress("127.0.1.58", 0),
            new java.net.InetSocketAddress(export.getHost(), export.getPort()),
            InetAddress.getByName(address(2)))) {
      URI viaRelay = URI.create(export.getScheme() + "://127.0.1.58:" + relay.port());
      // id-2 dials the relay believing it id-1, as it would a router on the path: it pins id-1's.
      HttpClient member =
          PeerFetcher.httpClient(
              InetAddress.getByName(address(2)), NodeKey.read(key("id-2")).keyPair(), id1());

      HttpResponse<byte[]> got =
          await("id-2 reads the blob through the relay")
              .atMost(Duration.ofSeconds(30))
              .until(
                  () ->
                      member.send(
                          HttpRequest.newBuilder(
                                  URI.create(viaRelay + "/v2/any/blobs/" + layerDigest))
                              .build(),
                          HttpResponse.BodyHandlers.ofByteArray()),
                  r -> r.statusCode() == 200);

      assertThat(got.body()).isEqualTo(layerBlob);
      byte[] wire = relay.recorded();
      assertThat(wire.length).as("bytes relayed").isGreaterThan(layerBlob.length);
      assertThat(indexOf(wire, layerBlob)).as("the blob in clear on the wire").isEqualTo(-1);
      assertThat(indexOf(wire, java.util.Arrays.copyOfRange(layerBlob, 16, 48)))
          .as("32 bytes of the blob in clear on the wire")
          .isEqualTo(-1);
      assertThat(new String(wire, java.nio.charset.StandardCharsets.ISO_8859_1))
          .as("the wire names no layer")
          .doesNotContain(layerHex);
    }
  }

  /**
   * Issue 15: a man in the middle that presents a certificate of its own key (a valid one, made as
   * a node makes its own) gets no byte of the request nor of the blob: the member refuses it,
   * naming the peer and the key it expected, and the fetch fails rather than read from it.
   */
  @Test
  void aManInTheMiddleWithItsOwnKeyIsRefusedNamingThePeerAndTheKeys() throws Exception {
    URI export = URI.create(endpoints.http());
    java.security.KeyPair mitmKey = NodeKey.read(key("id-4")).keyPair(); // a member's, even
    PeerKeys id1 = id1();
    try (ThrottledProxy mitm =
        ThrottledProxy.intercepting(
            new java.net.InetSocketAddress("127.0.1.58", 0),
            new java.net.InetSocketAddress(export.getHost(), export.getPort()),
            InetAddress.getByName(address(4)),
            NodeTls.server(mitmKey),
            NodeTls.client(Optional.of(mitmKey), id1))) {
      URI viaMitm = URI.create(export.getScheme() + "://127.0.1.58:" + mitm.port());
      PeerSource peer =
          new PeerSource(
              viaMitm,
              PeerFetcher.httpClient(
                  InetAddress.getByName(address(2)), NodeKey.read(key("id-2")).keyPair(), id1),
              Duration.ofSeconds(20));

      assertThatThrownBy(() -> peer.openBlob(Digest.parse(layerDigest)).close())
          .isInstanceOfSatisfying(
              RegistryException.class,
              e -> assertThat(e.reason()).isEqualTo(RegistryException.Reason.UNAVAILABLE))
          .hasMessageContaining("peer " + viaMitm)
          .hasMessageContaining(
              "presented the key " + NodeTls.describe(mitmKey.getPublic()) + ", not the key")
          .hasMessageContaining(NodeTls.describe(id1.publishedBy("any", 0).orElseThrow()));
      assertThat(indexOf(mitm.recorded(), layerBlob)).as("the blob through the MITM").isEqualTo(-1);
      assertThat(new String(mitm.recorded(), java.nio.charset.StandardCharsets.ISO_8859_1))
          .as("the request's path through the MITM")
          .doesNotContain(layerHex);
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** Pins id-1's published key, whatever address is dialled (a relay's, say). */
  private PeerKeys id1() {
    java.security.PublicKey key = NodeKey.parsePublicKey(endpoints.sftpHostKey());
    return (host, port) -> Optional.of(key);
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  private static String address(int node) {
    return "127.0.1." + (50 + node);
  }

  private Path key(String name) {
    return keys.resolve(name);
  }

  private StoreEndpoints endpointsOf(String node) {
    LayerStore s = client.resources(LayerStore.class).withName(node).get();
    return s == null || s.getStatus() == null ? null : s.getStatus().endpoints();
  }

  /** Writes {@code node}'s LayerStore status as its plugin would, with its key and address. */
  private void report(String node, String address, String publicKey) {
    await("LayerStore " + node + " made by the operator")
        .atMost(Duration.ofSeconds(60))
        .until(() -> client.resources(LayerStore.class).withName(node).get() != null);
    client
        .resources(LayerStore.class)
        .withName(node)
        .editStatus(
            s -> {
              s.setStatus(
                  new LayerStoreStatus(
                      null,
                      new StoreEndpoints(
                          "https://" + address + ":7443",
                          address + ":7022",
                          publicKey.strip(),
                          null),
                      10L << 30,
                      0L,
                      null,
                      null,
                      0,
                      0,
                      List.of(),
                      List.of(),
                      0,
                      null));
              return s;
            });
  }

  /** The status of GET /v2/ from {@code from}, which holds nothing and asks for no key. */
  private int httpStatus(String from) throws Exception {
    return PeerFetcher.httpClient(InetAddress.getByName(from), Optional.empty(), id1())
        .send(
            HttpRequest.newBuilder(URI.create(endpoints.http() + "/v2/")).build(),
            HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }

  private boolean sftpLists(String key, String from) throws Exception {
    Cmd c = sftp(key, from);
    return c.exitCode() == 0 && c.output().contains(layerHex);
  }

  /** Lists the export's layers with OpenSSH's sftp, with {@code key}, leaving from {@code from}. */
  private Cmd sftp(String key, String from) throws Exception {
    String[] hostPort = endpoints.sftp().split(":");
    Path knownHosts =
        Files.writeString(
            dir.resolve("known_hosts"),
            "[" + hostPort[0] + "]:" + hostPort[1] + " " + endpoints.sftpHostKey() + "\n");
    Path batch = Files.writeString(dir.resolve("batch"), "ls /sha256\n");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "sftp",
                "-b",
                batch.toString(),
                "-P",
                hostPort[1],
                "-i",
                key(key).toString(),
                "-o",
                "BindAddress=" + from,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "UserKnownHostsFile=" + knownHosts,
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "layerns@" + hostPort[0]));
    return Cmd.run(cmd);
  }

  /** An authenticated SSH session to id-1's export with {@code key}, from {@code from}. */
  private ClientSession login(SshClient ssh, String key, String from) throws Exception {
    String[] hostPort = endpoints.sftp().split(":");
    ClientSession session =
        ssh.connect(
                "layerns",
                new java.net.InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])),
                new java.net.InetSocketAddress(from, 0))
            .verify(Duration.ofSeconds(20))
            .getSession();
    KeyPair pair;
    try (var in = Files.newInputStream(key(key))) {
      pair =
          SecurityUtils.loadKeyPairIdentities(
                  null, () -> key(key).toString(), in, FilePasswordProvider.EMPTY)
              .iterator()
              .next();
    }
    session.addPublicKeyIdentity(pair);
    session.auth().verify(Duration.ofSeconds(20));
    return session;
  }
}
