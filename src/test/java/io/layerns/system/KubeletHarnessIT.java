package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerReference;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import io.layerns.system.PublishImage.Entry;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CSI node plugin driven as the kubelet drives it, on three nodes (127.0.1.1-3) with the real
 * control plane, the operator, a real registry and real mounts (root, private mount namespace): an
 * image pulled on node 1 only is published on node 3 through Sshfs and through Copy, with every
 * file, mode, symlink, whiteout and opaque directory as the image says, and node 3 never asks the
 * registry.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KubeletHarnessIT {
  private static final String NS = "kubelet";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);

  /**
   * Three layers: a base; one that deletes a file (whiteout), adds one and changes one; one that
   * empties a directory of the layers below (opaque) and adds to it.
   */
  private static final PublishImage IMAGE =
      new PublishImage(
          List.of(
              List.of(
                  Entry.dir("app", 0755),
                  Entry.dir("app/cache", 0755),
                  Entry.file("app/cache/old-1", 0644, "stale 1\n"),
                  Entry.file("app/cache/old-2", 0644, "stale 2\n"),
                  Entry.file("app/config", 0600, "v1\n"),
                  Entry.dir("bin", 0755),
                  Entry.file("bin/tool", 0755, "#!/bin/sh\necho tool\n"),
                  Entry.symlink("bin/sh", "/bin/tool"),
                  Entry.dir("etc", 0755),
                  Entry.file("etc/os-release", 0644, "ID=layerns-test\n"),
                  Entry.file("etc/removed", 0644, "deleted by layer 1\n"),
                  Entry.dir("secret", 0700),
                  Entry.file("secret/key", 0400, "k\n")),
              List.of(
                  Entry.dir("app", 0755),
                  Entry.file("app/config", 0640, "v2\n"),
                  Entry.dir("etc", 0755),
                  Entry.whiteout("etc/removed"),
                  Entry.file("etc/added", 0640, "added by layer 1\n")),
              List.of(
                  Entry.dir("app", 0755),
                  Entry.dir("app/cache", 0755),
                  Entry.opaque("app/cache"),
                  Entry.file("app/cache/new", 0644, "fresh\n"),
                  Entry.dir("usr", 0755),
                  Entry.dir("usr/share", 0755),
                  Entry.file("usr/share/readme", 0444, "docs\n"))));

  /** What the volume must show: the layers merged, whiteouts and the opaque dir applied. */
  private static final SortedMap<String, String> EXPECTED =
      new TreeMap<>(
          Map.ofEntries(
              Map.entry("app", "d 755"),
              Map.entry("app/cache", "d 755"),
              Map.entry("app/cache/new", "f 644 fresh\n"),
              Map.entry("app/config", "f 640 v2\n"),
              Map.entry("bin", "d 755"),
              Map.entry("bin/sh", "l /bin/tool"),
              Map.entry("bin/tool", "f 755 #!/bin/sh\necho tool\n"),
              Map.entry("etc", "d 755"),
              Map.entry("etc/added", "f 640 added by layer 1\n"),
              Map.entry("etc/os-release", "f 644 ID=layerns-test\n"),
              Map.entry("secret", "d 700"),
              Map.entry("secret/key", "f 400 k\n"),
              Map.entry("usr", "d 755"),
              Map.entry("usr/share", "d 755"),
              Map.entry("usr/share/readme", "f 444 docs\n")));

  private Path dir;
  private KubernetesClient client;
  private PublishCluster cluster;
  private PublishRegistry registry;
  private String byDigest;

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path tmp) throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    dir = tmp;
    client = cp.client();
    registry = PublishRegistry.start(Files.createDirectories(dir.resolve("registry")));
    String repository = "layerns/app";
    registry.push(repository, IMAGE.blobs(), PublishImage.MANIFEST_TYPE, IMAGE.manifest, "v1");
    byDigest = registry.host() + "/" + repository + "@" + IMAGE.manifestDigest();

    cluster = PublishCluster.start(cp, "node", POOL, 3, dir);
    // One copy of each layer: node 1's, so that node 3 must read or fetch it from node 1.
    TestNodes.addNamespace(client, NS, POOL, 1, Transport.Sshfs);

    // The image is pulled on node 1 only, from the registry, by tag.
    node(1)
        .importer
        .pull(ImageReference.parse(registry.host() + "/" + repository + ":v1"), DockerConfig.EMPTY);
    node(1).agent.agent().trigger();
    for (PublishImage.Layer l : IMAGE.layers) {
      await("node-1 owns " + l.digest())
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                Layer layer = layer(l);
                assertThat(layer).isNotNull();
                assertThat(layer.getStatus()).isNotNull();
                assertThat(layer.getStatus().owners()).containsExactly("node-1");
              });
    }
    // The registry's log names who asked: node 1's pull is there (so the check below can see).
    assertThat(registry.log()).contains("127.0.1.1");
  }

  @AfterAll
  void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  @Order(1)
  void sshfsVolumeOnNode3ShowsTheImageReadFromNode1AndNeverAsksTheRegistry() throws Exception {
    useTransport(Transport.Sshfs);
    PublishNode node3 = node(3);
    assertThat(node3.agent.store().listLayers()).isEmpty();

    PublishNode.Volume v = node3.publish(byDigest, "sshfs-pod", true);
    try {
      assertSshfsVolume(node3, v);
      // The admin sees which pod the volume is for.
      assertThat(client.resources(LayerStore.class).withName("node-3").get().getStatus().volumes())
          .singleElement()
          .extracting(PublishedVolume::pod)
          .isEqualTo("default/sshfs-pod");
    } finally {
      node3.unpublish(v);
    }

    assertThat(MountTable.isMountPoint(v.target())).isFalse();
    assertThat(v.target()).doesNotExist();
    assertThat(MountTable.mountsUnder(node3.kubeletDir)).isEmpty();
    assertThat(sshfsMounts(node3)).isEmpty();
  }

  private void assertSshfsVolume(PublishNode node3, PublishNode.Volume v) throws Exception {
    assertThat(view(v.target())).isEqualTo(EXPECTED);
    // Every layer is a remote mount of node 1's copy; nothing was copied to node 3.
    assertThat(sshfsMounts(node3)).hasSize(IMAGE.layers.size());
    assertThat(node3.agent.store().listLayers()).isEmpty();
    assertThat(registry.log()).doesNotContain("127.0.1.3");
    // The status says whose copy the volume reads, and the Layers show the reference.
    awaitVolumeReads(node3, "node-1");
  }

  /**
   * Waits until {@code node}'s LayerStore reports its one volume reading every layer from {@code
   * readsFrom}, and every Layer shows that reference.
   */
  private void awaitVolumeReads(PublishNode node, String readsFrom) {
    await(node.name + " reports its volume reading " + readsFrom + "'s copies")
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName(node.name).get();
              assertThat(s.getStatus().volumes())
                  .singleElement()
                  .extracting(PublishedVolume::layers)
                  .asInstanceOf(
                      org.assertj.core.api.InstanceOfAssertFactories.list(VolumeLayer.class))
                  .containsExactlyElementsOf(
                      IMAGE.layers.stream()
                          .map(l -> new VolumeLayer(l.digest().toString(), readsFrom))
                          .toList());
              for (PublishImage.Layer l : IMAGE.layers) {
                assertThat(layer(l).getStatus().references())
                    .contains(new LayerReference(node.name, readsFrom, 1));
              }
            });
  }

  @Test
  @Order(3) // after the Sshfs tests: it leaves node 3 with copies of the layers
  void copyVolumeOnNode3FetchesVerifiedLayersFromNode1AndNeverAsksTheRegistry() throws Exception {
    useTransport(Transport.Copy);
    PublishNode node3 = node(3);
    assertThat(node3.agent.store().listLayers()).isEmpty();

    PublishNode.Volume v = node3.publish(byDigest, "copy-pod", true);
    try {
      assertThat(view(v.target())).isEqualTo(EXPECTED);
      assertThat(sshfsMounts(node3)).isEmpty();
      for (PublishImage.Layer l : IMAGE.layers) {
        // Unpacked from bytes whose digest and diff ID were checked against the image's.
        assertThat(node3.agent.store().layer(l.digest()).orElseThrow().diffId())
            .isEqualTo(l.diffId());
      }
      assertThat(registry.log()).doesNotContain("127.0.1.3");
      // The volume reads node 3's own copies now, which keeps them while it runs.
      awaitVolumeReads(node3, "node-3");
    } finally {
      node3.unpublish(v);
    }
    assertThat(MountTable.mountsUnder(node3.kubeletDir)).isEmpty();
  }

  /**
   * Node 3's copies were fetched for a volume, never owned: once it is unpublished they go. Needs
   * the node agent to clear {@code status.volumes} when the last volume goes (NodeAgent reported
   * null there, which a merge patch leaves untouched, so the last volume stayed listed forever).
   */
  @Test
  @Order(4)
  void copiesFetchedForAVolumeAreDroppedAfterItsUnpublish() throws Exception {
    useTransport(Transport.Copy);
    PublishNode node3 = node(3);
    PublishNode.Volume v = node3.publish(byDigest, "copy-pod-2", true);
    try {
      awaitVolumeReads(node3, "node-3");
    } finally {
      node3.unpublish(v);
    }
    // Node 3's copies were never its to keep: once unused they go (eviction grace 0).
    await("node-3 drops its unowned copies")
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(() -> assertThat(node3.agent.store().listLayers()).isEmpty());
  }

  /**
   * A peer whose export stops under a mounted volume: node 3's LayerStore says which mounts do not
   * answer (condition and Warning event, naming node 1), and says so no more once the volume is
   * gone. Last: node 1 serves no SFTP afterwards.
   */
  @Test
  @Order(5)
  void aRemoteMountWhosePeerStopsServingIsReportedInTheStatusAndAsAnEvent() throws Exception {
    useTransport(Transport.Sshfs);
    PublishNode node3 = node(3);
    await("node-3 holds no copy")
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(() -> assertThat(node3.agent.store().listLayers()).isEmpty());
    PublishNode.Volume v = node3.publish(byDigest, "sshfs-pod-dying-peer", true);
    try {
      assertThat(sshfsMounts(node3)).hasSize(IMAGE.layers.size());
      awaitRemoteMountsHealthy(node3, "True");

      node(1).agent.sftp().close();

      Condition dead = awaitRemoteMountsHealthy(node3, "False");
      assertThat(dead.getReason()).isEqualTo("MountsDead");
      assertThat(dead.getMessage())
          .startsWith(IMAGE.layers.size() + " remote layer mounts do not answer")
          .contains("from node node-1")
          .contains(IMAGE.layers.getFirst().digest().toString());
      await("a RemoteMountDead event on node-3's LayerStore")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () ->
                  assertThat(client.events().v1().events().inNamespace("default").list().getItems())
                      .filteredOn(e -> "RemoteMountDead".equals(e.getReason()))
                      .filteredOn(e -> "node-3".equals(e.getRegarding().getName()))
                      .isNotEmpty()
                      .allSatisfy(
                          e -> {
                            assertThat(e.getType()).isEqualTo("Warning");
                            assertThat(e.getRegarding().getKind()).isEqualTo("LayerStore");
                            assertThat(e.getNote()).contains("mounted from node node-1");
                          }));
    } finally {
      node3.unpublish(v);
    }
    assertThat(sshfsMounts(node3)).isEmpty();
    // No mount, nothing dead: the condition clears.
    assertThat(awaitRemoteMountsHealthy(node3, "True").getReason()).isEqualTo("AllAnswering");
  }

  private Condition awaitRemoteMountsHealthy(PublishNode node, String status) {
    return StoreConditions.await(client, node.name, "RemoteMountsHealthy", status);
  }

  @Test
  @Order(2)
  void writableVolumeTakesWritesThatNoOtherVolumeSees() throws Exception {
    useTransport(Transport.Sshfs);
    PublishNode node3 = node(3);
    await("node-3 holds no copy")
        .atMost(Duration.ofSeconds(90))
        .untilAsserted(() -> assertThat(node3.agent.store().listLayers()).isEmpty());

    List<PublishNode.Volume> published = new ArrayList<>();
    try {
      checkWritable(node3, published);
    } finally {
      for (PublishNode.Volume v : published) {
        node3.unpublish(v); // again after a failure: unpublish is idempotent
      }
    }

    // The last volume took the remote mounts and the private upper layers with it.
    assertThat(sshfsMounts(node3)).isEmpty();
    assertThat(MountTable.mountsUnder(node3.kubeletDir)).isEmpty();
    try (var left = Files.list(node3.pluginState.resolve("volumes"))) {
      assertThat(left).isEmpty();
    }
  }

  private void checkWritable(PublishNode node3, List<PublishNode.Volume> published)
      throws Exception {
    PublishNode.Volume writable = node3.publish(byDigest, "writer", false);
    published.add(writable);
    PublishNode.Volume reader = node3.publish(byDigest, "reader", true);
    published.add(reader);
    PublishNode.Volume other = node3.publish(byDigest, "other-writer", false);
    published.add(other);
    // Three volumes, one sshfs mount per layer: the mounts are shared.
    assertThat(sshfsMounts(node3)).hasSize(IMAGE.layers.size());

    Files.writeString(writable.target().resolve("app/config"), "changed\n");
    Files.writeString(writable.target().resolve("etc/new-file"), "written\n");
    Files.delete(writable.target().resolve("etc/os-release"));

    assertThat(writable.target().resolve("app/config")).hasContent("changed");
    assertThat(writable.target().resolve("etc/new-file")).hasContent("written");
    assertThat(writable.target().resolve("etc/os-release")).doesNotExist();
    assertThat(view(reader.target())).isEqualTo(EXPECTED);
    assertThat(view(other.target())).isEqualTo(EXPECTED);
    // Node 1's copy, which the writes sit on, is untouched.
    Path base =
        node(1).agent.store().layer(IMAGE.layers.getFirst().digest()).orElseThrow().directory();
    assertThat(base.resolve("app/config")).hasContent("v1");
    assertThat(base.resolve("etc/os-release")).exists();

    node3.unpublish(writable);
    assertThat(sshfsMounts(node3)).hasSize(IMAGE.layers.size());
    assertThat(view(reader.target())).isEqualTo(EXPECTED);
  }

  // ---- helpers --------------------------------------------------------------------------------

  private PublishNode node(int i) {
    return cluster.node(i);
  }

  private Layer layer(PublishImage.Layer l) {
    return client
        .resources(Layer.class)
        .withName(CrdConstants.layerName(l.digest().toString()))
        .get();
  }

  /** Sets the namespace's transport and waits until node 3's store spec carries it. */
  private void useTransport(Transport t) {
    TestNodes.addNamespace(client, NS, POOL, 1, t);
    await("node-3's spec says " + t)
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName("node-3").get();
              return s != null && s.getSpec() != null && s.getSpec().transport() == t;
            });
    // Node 1 must still hold and report every layer Present for node 3 to find it.
    LayerStore s1 = client.resources(LayerStore.class).withName("node-1").get();
    assertThat(s1.getStatus().layers())
        .filteredOn(h -> h.state() == CopyState.Present)
        .extracting(HeldLayer::digest)
        .containsAll(IMAGE.layers.stream().map(l -> l.digest().toString()).toList());
  }

  private static List<MountTable.Entry> sshfsMounts(PublishNode node) throws IOException {
    return MountTable.mountsUnder(node.pluginState).stream()
        .filter(e -> e.fsType().equals("fuse.sshfs"))
        .toList();
  }

  /**
   * The tree under {@code root} as a reader of the volume sees it: per path, its type, permission
   * bits and content (files) or target (symlinks); symlinks are not followed.
   */
  static SortedMap<String, String> view(Path root) throws IOException {
    SortedMap<String, String> out = new TreeMap<>();
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs)
              throws IOException {
            if (!d.equals(root)) {
              out.put(root.relativize(d).toString(), "d " + mode(d));
            }
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
            String rel = root.relativize(f).toString();
            if (attrs.isSymbolicLink()) {
              out.put(rel, "l " + Files.readSymbolicLink(f));
            } else if (attrs.isRegularFile()) {
              out.put(
                  rel,
                  "f " + mode(f) + " " + new String(Files.readAllBytes(f), StandardCharsets.UTF_8));
            } else {
              out.put(rel, "other " + mode(f));
            }
            return FileVisitResult.CONTINUE;
          }
        });
    return out;
  }

  private static String mode(Path p) throws IOException {
    int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    return Integer.toOctalString(mode & 07777);
  }
}
