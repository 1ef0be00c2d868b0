package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
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
import io.layerns.api.v1alpha1.LayerReference;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.store.Digest;
import io.layerns.system.PublishImage.Entry;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 2 end to end: node 1's copy of a layer, which a volume on node 3 reads through an sshfs
 * mount, stays while node 1 is no longer an owner, and goes only after the volume is unpublished.
 *
 * <p>How node 1 stops being an owner: node 2 also holds a copy (kept by a long grace period), node
 * 1 goes NotReady past the timeout and loses its ownership to node 2, then comes back; node 2, now
 * the previous owner, stays the owner. Then the grace period is set to 0, so that nothing but the
 * remote volume keeps node 1's copy.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EvictionWithRemoteVolumeIT {
  private static final String NS = "evict";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  private static final PublishImage IMAGE =
      new PublishImage(
          List.of(
              List.of(
                  Entry.dir("data", 0755),
                  Entry.file("data/greeting", 0644, "read from node 1 over sshfs\n"))));

  private Path dir;
  private KubernetesClient client;
  private PublishCluster cluster;

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path tmp) throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    dir = tmp;
    client = cp.client();
    cluster = PublishCluster.start(cp, "evict-node", POOL, 3, dir);
  }

  @AfterAll
  void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void ownerThatLostOwnershipKeepsTheCopyARemoteVolumeReadsUntilItIsUnpublished() throws Exception {
    Digest digest = IMAGE.layers.getFirst().digest();
    String layerName = CrdConstants.layerName(digest.toString());
    // One copy wanted; a copy that is not owned stays for an hour (node 2's spare, for now).
    namespace(3600);
    IMAGE.writeLayout(dir.resolve("layout"), "v1");
    // A registry that does not exist: the image is only ever on the nodes.
    String tag = "registry.invalid/evict/app:v1";
    node(1).importer.importLayout(dir.resolve("layout"), ImageReference.parse(tag));
    node(1).agent.agent().trigger();
    await("node-1 owns the layer")
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(() -> assertThat(owners(layerName)).containsExactly("evict-node-1"));
    node(2).importer.importLayout(dir.resolve("layout"), ImageReference.parse(tag));
    node(2).agent.agent().trigger();
    await("node-2 holds a spare copy")
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(presentHolders(layerName))
                    .containsExactlyInAnyOrder("evict-node-1", "evict-node-2"));

    // Node 3 mounts node 1's copy (the owner's, which it prefers).
    PublishNode.Volume v =
        node(3).publish("registry.invalid/evict/app@" + IMAGE.manifestDigest(), "reader", true);
    try {
      Path greeting = v.target().resolve("data/greeting");
      assertThat(greeting).hasContent("read from node 1 over sshfs");
      await("the Layer shows node 3 reading node 1's copy")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () ->
                  assertThat(
                          client
                              .resources(Layer.class)
                              .withName(layerName)
                              .get()
                              .getStatus()
                              .references())
                      .containsExactly(new LayerReference("evict-node-3", "evict-node-1", 1)));

      // Node 1 goes away long enough to lose its ownership to node 2, then comes back.
      setReady("evict-node-1", false);
      await("node-2 takes over")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(() -> assertThat(owners(layerName)).containsExactly("evict-node-2"));
      setReady("evict-node-1", true);
      // From now on only the volume keeps node 1's copy.
      namespace(0);

      await("operator and agents converge with node 1 keeping its copy for node 3's volume")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                assertThat(owners(layerName)).containsExactly("evict-node-2");
                LayerStore s1 = client.resources(LayerStore.class).withName("evict-node-1").get();
                assertThat(s1.getSpec().layers())
                    .extracting(AssignedLayer::digest, AssignedLayer::reason)
                    .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(digest.toString(), "InUse"));
                // The agent has acted on this very spec.
                assertThat(s1.getStatus().observedGeneration())
                    .isEqualTo(s1.getMetadata().getGeneration());
                assertThat(s1.getStatus().layers())
                    .extracting(HeldLayer::digest, HeldLayer::state)
                    .contains(
                        org.assertj.core.groups.Tuple.tuple(digest.toString(), CopyState.Present));
                assertThat(
                        client
                            .resources(Layer.class)
                            .withName(layerName)
                            .get()
                            .getStatus()
                            .references())
                    .containsExactly(new LayerReference("evict-node-3", "evict-node-1", 1));
              });
      assertThat(node(1).agent.store().hasLayer(digest)).isTrue();
      // The volume still reads, through the remote mount of node 1's copy.
      assertThat(greeting).hasContent("read from node 1 over sshfs");
    } finally {
      node(3).unpublish(v);
    }

    await("node-1 drops its copy once no volume reads it")
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () ->
                assertThat(node(1).agent.store().hasLayer(digest))
                    .as(
                        () ->
                            "node-3 volumes "
                                + client
                                    .resources(LayerStore.class)
                                    .withName("evict-node-3")
                                    .get()
                                    .getStatus()
                                    .volumes()
                                + "; node-1 spec "
                                + client
                                    .resources(LayerStore.class)
                                    .withName("evict-node-1")
                                    .get()
                                    .getSpec()
                                    .layers()
                                + "; layer "
                                + client
                                    .resources(Layer.class)
                                    .withName(layerName)
                                    .get()
                                    .getStatus())
                    .isFalse());
    await("node-2's copy is the one left")
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(() -> assertThat(presentHolders(layerName)).containsExactly("evict-node-2"));
    assertThat(node(2).agent.store().hasLayer(digest)).isTrue();
  }

  // ---- helpers --------------------------------------------------------------------------------

  private PublishNode node(int i) {
    return cluster.node(i);
  }

  /** The namespace: one copy per layer, Sshfs, NotReady nodes departing at once. */
  private void namespace(int evictionGraceSeconds) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NS).build());
    ns.setSpec(
        new LayerNamespaceSpec(POOL, 1, Transport.Sshfs, evictionGraceSeconds, 0, null, null));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  private List<String> owners(String layerName) {
    Layer l = client.resources(Layer.class).withName(layerName).get();
    assertThat(l).isNotNull();
    assertThat(l.getStatus()).isNotNull();
    return l.getStatus().owners();
  }

  private List<String> presentHolders(String layerName) {
    Layer l = client.resources(Layer.class).withName(layerName).get();
    assertThat(l).isNotNull();
    assertThat(l.getStatus()).isNotNull();
    return l.getStatus().holders().stream()
        .filter(h -> h.state() == CopyState.Present)
        .map(LayerHolder::node)
        .toList();
  }

  private void setReady(String node, boolean ready) {
    var n = client.nodes().withName(node).get();
    n.getStatus()
        .setConditions(
            List.of(
                new NodeConditionBuilder()
                    .withType("Ready")
                    .withStatus(ready ? "True" : "False")
                    .withReason(ready ? "KubeletReady" : "KubeletStopped")
                    .withLastTransitionTime(Instant.now().toString())
                    .build()));
    client.nodes().resource(n).updateStatus();
  }
}
