package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP export lets in the namespace's member nodes only, by the addresses their Node objects
 * list, as membership changes: requests leave from loopback aliases (127.0.1.x) as they leave a
 * node from its node IP.
 */
class ExportMembershipIT {

  @TempDir Path tmp;
  private LocalLayerStore store;
  private HttpExportServer export;
  private final java.security.KeyPair exportKey = io.layerns.csi.transport.TestNodeKeys.generate();
  private volatile NamespaceView namespace = NamespaceView.NONE;

  /** Each node's addresses as its Node object lists them: node-127.0.1.x lists 127.0.1.x. */
  private final java.util.Map<String, Set<InetAddress>> nodeAddresses =
      new java.util.concurrent.ConcurrentHashMap<>();

  private ExportMembership membership;

  @BeforeEach
  void setUp() throws Exception {
    store = LocalLayerStore.open(tmp.resolve("store"));
    export =
        HttpExportServer.start(
            store,
            new InetSocketAddress(InetAddress.getByName("127.0.1.1"), 0),
            Set.of(),
            exportKey);
    ClusterView cluster =
        new ClusterView() {
          @Override
          public NamespaceView namespace() {
            return namespace;
          }
        };
    membership =
        new ExportMembership(
            cluster,
            node -> nodeAddresses.getOrDefault(node, Set.of()),
            InetAddress.getByName("127.0.1.1"),
            Optional.empty(),
            export,
            Optional.empty(),
            Optional.empty(),
            List.of());
  }

  @AfterEach
  void tearDown() throws IOException {
    membership.close();
    export.close();
    store.close();
  }

  @Test
  void onlyMemberAddressesAreServedAndMembershipChangesApply() throws Exception {
    namespace = members("127.0.1.2");
    membership.refresh();

    assertThat(status("127.0.1.2")).isEqualTo(200);
    assertThat(status("127.0.1.1")).isEqualTo(200); // the node itself
    assertThat(status("127.0.1.9")).isEqualTo(403);

    namespace = members("127.0.1.9");
    membership.refresh();

    assertThat(status("127.0.1.9")).isEqualTo(200);
    assertThat(status("127.0.1.2")).isEqualTo(403);
  }

  @Test
  void anAddressAMemberReportsAboutItselfIsNotLetIn() throws Exception {
    // node-127.0.1.2's Node lists 127.0.1.2; its own status claims an export on 127.0.1.9.
    nodeAddresses.put("node-127.0.1.2", Set.of(InetAddress.getByName("127.0.1.2")));
    namespace =
        new NamespaceView(
            "pool",
            Transport.Copy,
            List.of(
                new NamespaceView.PeerStore(
                    "node-127.0.1.2",
                    new StoreEndpoints("http://127.0.1.9:7443", null, null, null),
                    Set.of(),
                    Set.of())));
    membership.refresh();

    assertThat(status("127.0.1.9")).isEqualTo(403);
    assertThat(status("127.0.1.2")).isEqualTo(200);
  }

  @Test
  void aMemberWhoseNodeListsNoAddressIsNotLetIn() throws Exception {
    namespace = members("127.0.1.2");
    nodeAddresses.clear();
    membership.refresh();

    assertThat(status("127.0.1.2")).isEqualTo(403);
    assertThat(membership.members()).containsExactly(InetAddress.getByName("127.0.1.1"));
  }

  @Test
  void aNodeInNoNamespaceServesNobodyElse() throws Exception {
    membership.start(java.time.Duration.ofHours(1));

    assertThat(status("127.0.1.2")).isEqualTo(403);
    assertThat(membership.members()).containsExactly(InetAddress.getByName("127.0.1.1"));
  }

  /** Members named after their address, which their Node lists (and their status reports). */
  private NamespaceView members(String... addresses) {
    for (String a : addresses) {
      try {
        nodeAddresses.put("node-" + a, Set.of(InetAddress.getByName(a)));
      } catch (java.net.UnknownHostException e) {
        throw new IllegalArgumentException(e);
      }
    }
    List<NamespaceView.PeerStore> peers =
        java.util.Arrays.stream(addresses)
            .map(
                a ->
                    new NamespaceView.PeerStore(
                        "node-" + a,
                        new StoreEndpoints("http://" + a + ":7443", null, null, null),
                        Set.of(),
                        Set.of()))
            .toList();
    return new NamespaceView("pool", Transport.Copy, peers);
  }

  /** The status of GET /v2/ from {@code from}, as a peer's fetcher sends it. */
  private int status(String from) throws Exception {
    HttpClient client =
        io.layerns.csi.transport.PeerFetcher.httpClient(
            InetAddress.getByName(from),
            Optional.empty(),
            (host, port) -> Optional.of(exportKey.getPublic()));
    return client
        .send(
            HttpRequest.newBuilder(URI.create(export.baseUri() + "/v2/")).build(),
            HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }
}
