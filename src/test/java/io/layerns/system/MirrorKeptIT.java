package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.mirror.MirrorServer;
import io.layerns.csi.node.KubernetesClusterView;
import io.layerns.csi.node.MemberExportKeys;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19, deliverable 5: a layer containerd pulls through a node's mirror from a member peer and
 * the mirror keeps becomes known to the namespace: the node's agent reports it Present in its
 * LayerStore status, the Layer lists the node as a holder and placement takes the copy in (lists it
 * in the node's spec). Real control plane, real operator, two in-process agents, a real registry;
 * the mirror is wired to its agent as the plugin wires it.
 */
@WithControlPlane
class MirrorKeptIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "mirror-kept");

  @Test
  void aLayerKeptThroughTheMirrorIsReportedPresentAndPlacementCountsTheHolder(
      ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    TestImage image = TestImage.threeLayers("mirror-kept", Platform.LINUX_AMD64);
    TestImage.Layer layer = image.layers().get(1);
    String digest = layer.digest().toString();
    InProcessAgent peer = null;
    InProcessAgent node = null;
    MirrorServer mirror = null;
    try (RegistryServer registry = RegistryServer.start(dir.resolve("registry"), null);
        var operator =
            new LayernsOperator(
                cp.newAdminClient(),
                OperatorConfig.embedded("mirror-kept-it"),
                Clock.systemUTC())) {
      new RegistryPusher(registry.url(), null).push("team/app", image, "1.0");
      String reference = registry.host() + "/team/app:1.0";
      operator.start();
      // The peer, alone in the namespace at first: it preloads the image, the only copy.
      TestNodes.addReadyNode(client, "mirror-kept-1", POOL);
      peer = InProcessAgent.start(cp, "mirror-kept-1", "127.0.1.41", dir.resolve("store-1"));
      LayerNamespace ns = new LayerNamespace();
      ns.setMetadata(new ObjectMetaBuilder().withName("mirror-kept").build());
      // Eviction grace as on the real cluster: a kept extra copy stays assigned for a while.
      ns.setSpec(
          new LayerNamespaceSpec(POOL, 1, Transport.Copy, 600, 300, null, List.of(reference)));
      client.resource(ns).forceConflicts().serverSideApply();
      await("the peer holds " + digest)
          .atMost(Duration.ofSeconds(60))
          .until(
              () ->
                  holders(client, digest)
                      .contains(new LayerHolder("mirror-kept-1", CopyState.Present)));

      // The preload goes to one member by rendezvous over the image reference (whose registry
      // port differs per run), so once the mirror's node joined it could preload the image itself
      // before its pull: the preload is taken out now that the peer holds the only copy.
      ns.setSpec(new LayerNamespaceSpec(POOL, 1, Transport.Copy, 600, 300, null, null));
      client.resource(ns).forceConflicts().serverSideApply();
      await("the preload taken out")
          .atMost(Duration.ofSeconds(60))
          .until(
              () -> {
                LayerStore s = client.resources(LayerStore.class).withName("mirror-kept-1").get();
                return s != null && s.getSpec() != null && s.getSpec().preloadImages() == null;
              });

      // The mirror's node joins; it settles (reports its empty store) before containerd pulls.
      TestNodes.addReadyNode(client, "mirror-kept-2", POOL);
      node = InProcessAgent.start(cp, "mirror-kept-2", "127.0.1.42", dir.resolve("store-2"));
      await("mirror-kept-2 is a member and reported its store")
          .atMost(Duration.ofSeconds(60))
          .until(
              () -> {
                LayerStore s = client.resources(LayerStore.class).withName("mirror-kept-2").get();
                return s != null
                    && s.getSpec() != null
                    && "mirror-kept".equals(s.getSpec().namespace())
                    && s.getStatus() != null
                    && s.getStatus().endpoints() != null;
              });
      assertThat(held(client, "mirror-kept-2")).doesNotContainKey(digest);

      ImageImporter importer =
          new ImageImporter(
              node.store(),
              new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
              Platform.LINUX_AMD64);
      KubernetesClusterView view = new KubernetesClusterView(cp.newAdminClient(), "mirror-kept-2");
      PeerFetcher peers =
          new PeerFetcher(
              importer,
              PeerFetcher.httpClient(
                  InetAddress.getByName("127.0.1.42"),
                  node.nodeKey().keyPair(),
                  new MemberExportKeys(view)),
              Duration.ofSeconds(30));
      mirror =
          MirrorServer.start(
              new MirrorServer.Settings(
                  Optional.of(new InetSocketAddress("127.0.0.1", 0)), Duration.ZERO, true),
              importer,
              peers,
              view);
      mirror.onKept(node.agent()::trigger); // as CsiPluginMain wires it

      // containerd's request for the blob, through the mirror.
      HttpResponse<byte[]> blob =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create(
                              mirror.baseUri()
                                  + "/v2/team/app/blobs/"
                                  + digest
                                  + "?ns="
                                  + registry.host()))
                      .build(),
                  HttpResponse.BodyHandlers.ofByteArray());
      assertThat(blob.statusCode()).isEqualTo(200);
      assertThat(blob.body()).isEqualTo(layer.blob());

      await("the kept copy reported Present, a holder of the Layer, assigned to its node")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                assertThat(held(client, "mirror-kept-2")).containsEntry(digest, CopyState.Present);
                assertThat(holders(client, digest))
                    .contains(new LayerHolder("mirror-kept-2", CopyState.Present));
                LayerStore s = client.resources(LayerStore.class).withName("mirror-kept-2").get();
                assertThat(s.getSpec().layers())
                    .extracting(AssignedLayer::digest)
                    .as("placement takes the kept copy in")
                    .contains(digest);
              });
    } finally {
      if (mirror != null) {
        mirror.close();
      }
      for (InProcessAgent a : new InProcessAgent[] {node, peer}) {
        if (a != null) {
          a.close();
        }
      }
    }
  }

  private static List<LayerHolder> holders(KubernetesClient client, String digest) {
    Layer l = client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
    return l == null || l.getStatus() == null || l.getStatus().holders() == null
        ? List.of()
        : l.getStatus().holders();
  }

  private static Map<String, CopyState> held(KubernetesClient client, String node) {
    LayerStore s = client.resources(LayerStore.class).withName(node).get();
    if (s == null || s.getStatus() == null || s.getStatus().layers() == null) {
      return Map.of();
    }
    Map<String, CopyState> out = new java.util.TreeMap<>();
    for (HeldLayer h : s.getStatus().layers()) {
      out.put(h.digest(), h.state());
    }
    return out;
  }
}
