package io.layerns.system;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Digest;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.SimulatedNodes;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The chaos test's cluster and the faults it can suffer: the real control plane, the operator in
 * this JVM, real node plugin processes on 127.0.1.101 and up, a registry behind a gate, and one
 * LayerNamespace (Sshfs, no eviction grace) over all the nodes.
 */
final class ChaosCluster implements AutoCloseable {
  static final String NAMESPACE = "chaos";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NAMESPACE);

  final ControlPlane cp;
  final KubernetesClient client;
  final ChaosImages images;
  final Map<String, ChaosNode> nodes = new LinkedHashMap<>();
  private final Path dir;
  private final PublishRegistry registry;
  private final GatedProxy gate;
  private final List<String> preload = new ArrayList<>();
  private LayernsOperator operator;
  private int nextNode = 1;
  private int replicas = 2;

  /** {@link ChaosNode#corruptRefusals} of the nodes removed so far. */
  int removedRefusals;

  ChaosCluster(ControlPlane cp, Path dir, ChaosImages images, int nodeCount) throws Exception {
    this.cp = cp;
    this.client = cp.client();
    this.dir = dir;
    this.images = images;
    registry = PublishRegistry.start(Files.createDirectories(dir.resolve("registry")));
    for (ChaosImages.Image image : images.images) {
      PublishImage c = image.content();
      registry.push(image.name(), c.blobs(), PublishImage.MANIFEST_TYPE, c.manifest, "v1");
    }
    String[] host = registry.host().split(":");
    gate =
        new GatedProxy(
            new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0),
            new InetSocketAddress(host[0], Integer.parseInt(host[1])));
    startOperator();
    for (int i = 0; i < nodeCount; i++) {
      join();
    }
    writeNamespace();
  }

  /** The image by digest, through the gate. */
  String reference(ChaosImages.Image image) {
    return "127.0.0.1:" + gate.port() + "/" + image.name() + "@" + image.content().manifestDigest();
  }

  void openRegistry() throws IOException {
    gate.open();
  }

  void shutRegistry() throws IOException {
    gate.shut();
  }

  /** A new node: its Node object, then its plugin. */
  ChaosNode join() throws IOException {
    int index = nextNode++;
    String name = "chaos-" + index;
    String address = "127.0.1." + (100 + index);
    // Peers let a plugin in by the address its Node lists, as the kubelet reports it.
    SimulatedNodes.addReady(client, name, POOL, address);
    ChaosNode node = ChaosNode.start(cp, name, address, dir.resolve(name));
    nodes.put(name, node);
    return node;
  }

  /** Removes a node for good, as a machine that dies: plugin gone, disk gone, Node deleted. */
  void remove(String name) throws Exception {
    ChaosNode node = nodes.remove(name);
    node.kill();
    removedRefusals += node.corruptRefusals();
    KubeletMounts.unmountAllUnder(node.dir);
    client.nodes().withName(name).delete();
    io.layerns.csi.store.Trees.delete(node.dir);
  }

  /** Flips one byte in the middle of the blob that {@code node}'s HTTP export serves for it. */
  void corrupt(String node, Digest digest) throws IOException {
    flipMiddleByte(nodes.get(node).store.resolve("blobs/sha256").resolve(digest.hex()));
  }

  /**
   * Flips one byte of a file in {@code node}'s unpacked copy of the layer, the {@code pick}-th of
   * its non-empty regular files (modulo their number): silent rot of what sshfs and NFS serve and
   * volumes read. Returns the file's path within the layer, or null when the layer has no content.
   */
  String corruptTree(String node, Digest digest, int pick) throws IOException {
    Path tree =
        nodes.get(node).store.resolve("layers/sha256").resolve(digest.hex()).resolve("diff");
    List<Path> files;
    try (var walk = Files.walk(tree)) {
      files =
          walk.filter(p -> Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
              .filter(p -> p.toFile().length() > 0)
              .sorted()
              .toList();
    }
    if (files.isEmpty()) {
      return null;
    }
    Path file = files.get(Math.floorMod(pick, files.size()));
    flipMiddleByte(file);
    return tree.relativize(file).toString();
  }

  private static void flipMiddleByte(Path file) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      long at = f.length() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x40);
    }
  }

  void setReplicas(int replicas) {
    this.replicas = replicas;
    writeNamespace();
  }

  void preload(ChaosImages.Image image) {
    preload.add(reference(image));
    writeNamespace();
  }

  private void writeNamespace() {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
    ns.setSpec(
        new LayerNamespaceSpec(
            POOL,
            replicas,
            Transport.Sshfs,
            0,
            300,
            null,
            preload.isEmpty() ? null : List.copyOf(preload)));
    client.resource(ns).forceConflicts().serverSideApply();
  }

  private void startOperator() throws IOException {
    operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("chaos"), Clock.systemUTC());
    operator.start();
  }

  void restartOperator() throws IOException {
    operator.close();
    startOperator();
  }

  @Override
  public void close() throws Exception {
    for (ChaosNode n : nodes.values()) {
      n.close();
    }
    KubeletMounts.unmountAllUnder(dir);
    if (operator != null) {
      operator.close();
    }
    gate.close();
    registry.close();
    // Nodes go too, so that other tests in this JVM see only their own.
    for (String name : nodes.keySet()) {
      client.nodes().withName(name).delete();
    }
    client.resources(LayerNamespace.class).withName(NAMESPACE).delete();
    // Layers keep their registry sources (this run's registry address) and stores their specs:
    // a later run on the same control plane (make test replays several seeds) must not see them.
    client.resources(io.layerns.api.v1alpha1.Layer.class).delete();
    client.resources(io.layerns.api.v1alpha1.LayerStore.class).delete();
    org.awaitility.Awaitility.await("this run's Layers and LayerStores deleted")
        .atMost(java.time.Duration.ofSeconds(60))
        .until(
            () ->
                client.resources(io.layerns.api.v1alpha1.Layer.class).list().getItems().isEmpty()
                    && client
                        .resources(io.layerns.api.v1alpha1.LayerStore.class)
                        .list()
                        .getItems()
                        .isEmpty());
  }
}
