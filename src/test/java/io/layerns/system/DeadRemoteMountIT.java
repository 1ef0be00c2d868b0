package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.registry.ImageReference;
import io.layerns.system.ContainerView.Propagation;
import io.layerns.system.PublishImage.Entry;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22, item 3: the sshfs daemons behind node 2's volumes die while node 2's plugin is down
 * (killed, OOM, a container restart that took them along). The restarted plugin names every dead
 * mount once ({@code RemoteMountDead}), mounts each again in place, and mounts its read-only
 * volumes again over their targets ({@code RemoteMountRepaired}): a container that mounts the
 * volume with {@code HostToContainer} propagation reads again. What cannot be repaired stays
 * broken, as docs/limits.md says: a container with {@code None} propagation (its own copy of the
 * dead overlay) and a writable volume (its upper layer belongs to the dead overlay).
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeadRemoteMountIT {
  private static final String NS = "deadmount";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final String NODE_2 = "dead-node-2";

  /** Two layers, so two sshfs mounts die and each must be told once. */
  private static final PublishImage IMAGE =
      new PublishImage(
          List.of(
              List.of(Entry.dir("data", 0755), Entry.file("data/base", 0644, "base layer\n")),
              List.of(Entry.dir("data", 0755), Entry.file("data/top", 0644, "top layer\n"))));

  private Path dir;
  private KubernetesClient client;
  private PublishCluster cluster;

  @BeforeAll
  void start(ControlPlane cp, @TempDir Path tmp) throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    dir = tmp.toRealPath();
    client = cp.client();
    cluster = PublishCluster.start(cp, "dead-node", POOL, 2, dir);
    TestNodes.addNamespace(client, NS, POOL, 1, Transport.Sshfs);
    // As on a real node: the kubelet root is a shared mount, so that what is mounted at a
    // target later reaches the containers that asked for HostToContainer propagation.
    Path kubelet = cluster.node(2).kubeletDir;
    run("mount", "--bind", kubelet.toString(), kubelet.toString());
    run("mount", "--make-rshared", kubelet.toString());

    IMAGE.writeLayout(dir.resolve("layout"), "v1");
    cluster
        .node(1)
        .importer
        .importLayout(dir.resolve("layout"), ImageReference.parse("registry.invalid/dead/app:v1"));
    cluster.node(1).agent.agent().trigger();
    for (PublishImage.Layer l : IMAGE.layers) {
      await("node 1 owns " + l.digest())
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                Layer layer =
                    client
                        .resources(Layer.class)
                        .withName(CrdConstants.layerName(l.digest().toString()))
                        .get();
                assertThat(layer).isNotNull();
                assertThat(layer.getStatus()).isNotNull();
                assertThat(layer.getStatus().owners()).containsExactly("dead-node-1");
              });
    }
  }

  @AfterAll
  void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void sshfsDaemonsKilledWhileThePluginIsDownAreToldOnceAndRepairedForHostToContainerReaders()
      throws Exception {
    String image = "registry.invalid/dead/app@" + IMAGE.manifestDigest();
    PublishNode.Volume reader = cluster.node(2).publish(image, "reader", true);
    PublishNode.Volume writer = cluster.node(2).publish(image, "writer", false);
    List<ContainerView> containers = new ArrayList<>();
    try {
      ContainerView hostToContainer =
          view(containers, reader, "host-to-container", Propagation.HOST_TO_CONTAINER);
      ContainerView none = view(containers, reader, "none", Propagation.NONE);
      assertThat(hostToContainer.read("data/top")).isEqualTo("top layer\n");
      assertThat(none.read("data/base")).isEqualTo("base layer\n");
      List<MountTable.Entry> sshfs = sshfsMounts();
      assertThat(sshfs).hasSize(IMAGE.layers.size());
      awaitRemoteMountsHealthy("True");

      cluster.restart(2, () -> killFuseDaemonsOf(sshfs));

      // Before the restarted plugin repairs anything, readers fail; after, the condition is
      // back and each dead mount was told once, and repaired once.
      await("every dead mount is told and repaired")
          .atMost(Duration.ofSeconds(60))
          .untilAsserted(
              () -> {
                assertThat(events(NodeAgentEvents.DEAD)).hasSize(IMAGE.layers.size());
                assertThat(events(NodeAgentEvents.REPAIRED)).hasSize(IMAGE.layers.size());
              });
      for (PublishImage.Layer l : IMAGE.layers) {
        assertThat(events(NodeAgentEvents.DEAD))
            .filteredOn(e -> e.getNote().contains(l.digest().toString()))
            .singleElement()
            .satisfies(
                e -> {
                  assertThat(e.getType()).isEqualTo("Warning");
                  assertThat(e.getRegarding().getKind()).isEqualTo("LayerStore");
                  assertThat(e.getNote())
                      .contains("mounted from node dead-node-1")
                      .contains("Transport endpoint is not connected");
                });
        assertThat(events(NodeAgentEvents.REPAIRED))
            .filteredOn(e -> e.getNote().contains(l.digest().toString()))
            .singleElement()
            .satisfies(
                e -> {
                  assertThat(e.getType()).isEqualTo("Normal");
                  assertThat(e.getNote())
                      .contains("from node dead-node-1 mounted again")
                      .contains("remounted: " + reader.volumeId())
                      .contains("not repaired (writable): " + writer.volumeId());
                });
      }
      assertThat(awaitRemoteMountsHealthy("True").getReason()).isEqualTo("AllAnswering");

      // The container that asked for HostToContainer reads through the new overlay ...
      await("the HostToContainer container reads again")
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                assertThat(hostToContainer.read("data/top")).isEqualTo("top layer\n");
                assertThat(hostToContainer.read("data/base")).isEqualTo("base layer\n");
              });
      assertThat(reader.target().resolve("data/base")).hasContent("base layer");
      // ... while the limits stay as docs/limits.md says: the None container keeps the dead
      // overlay, and so does the writable volume.
      assertThat(none.read("data/top")).startsWith("error:");
      assertThat(readOnHost(writer.target().resolve("data/top"))).startsWith("error:");

      // Nothing is told twice while the checks go on (every second here).
      await("no event is repeated")
          .during(Duration.ofSeconds(4))
          .atMost(Duration.ofSeconds(6))
          .untilAsserted(
              () -> {
                assertThat(events(NodeAgentEvents.DEAD)).hasSize(IMAGE.layers.size());
                assertThat(events(NodeAgentEvents.REPAIRED)).hasSize(IMAGE.layers.size());
                assertThat(events(NodeAgentEvents.RECOVERED)).isEmpty();
              });
    } finally {
      containers.forEach(ContainerView::close);
      cluster.node(2).unpublish(reader);
      cluster.node(2).unpublish(writer);
    }
    // The repaired mounts and the stacked overlays went with the volumes.
    assertThat(sshfsMounts()).isEmpty();
    assertThat(MountTable.mountsUnder(cluster.node(2).kubeletDir.resolve("pods"))).isEmpty();
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** The reasons of the node agent's remote-mount events. */
  private static final class NodeAgentEvents {
    static final String DEAD = "RemoteMountDead";
    static final String REPAIRED = "RemoteMountRepaired";
    static final String RECOVERED = "RemoteMountRecovered";
  }

  /** What reading a file on the host (the test's own mount namespace) gives. */
  private static String readOnHost(Path file) {
    try {
      return java.nio.file.Files.readString(file);
    } catch (java.io.IOException e) {
      return "error: " + e.getMessage();
    }
  }

  private ContainerView view(
      List<ContainerView> containers, PublishNode.Volume v, String name, Propagation p)
      throws Exception {
    ContainerView c = ContainerView.of(v.target(), dir.resolve("containers").resolve(name), p);
    containers.add(c);
    return c;
  }

  private List<Event> events(String reason) {
    return client.events().v1().events().inNamespace("default").list().getItems().stream()
        .filter(e -> reason.equals(e.getReason()))
        .filter(e -> NODE_2.equals(e.getRegarding().getName()))
        .toList();
  }

  private Condition awaitRemoteMountsHealthy(String status) {
    return StoreConditions.await(client, NODE_2, "RemoteMountsHealthy", status);
  }

  private List<MountTable.Entry> sshfsMounts() throws java.io.IOException {
    return MountTable.mountsUnder(cluster.node(2).pluginState).stream()
        .filter(e -> e.fsType().equals("fuse.sshfs"))
        .toList();
  }

  /** SIGKILLs the sshfs daemon of each mount (found by its mount point), as an OOM kill does. */
  private static void killFuseDaemonsOf(List<MountTable.Entry> mounts) {
    List<ProcessHandle> daemons =
        ProcessHandle.allProcesses()
            .filter(
                p ->
                    p.info().command().filter(c -> c.endsWith("/sshfs")).isPresent()
                        && p.info()
                            .commandLine()
                            .filter(c -> mounts.stream().anyMatch(m -> c.contains(m.mountPoint())))
                            .isPresent())
            .toList();
    assertThat(daemons).hasSize(mounts.size());
    daemons.forEach(ProcessHandle::destroyForcibly);
    await("the sshfs daemons are gone")
        .atMost(Duration.ofSeconds(10))
        .until(() -> daemons.stream().noneMatch(ProcessHandle::isAlive));
  }

  private static void run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).inheritIO().start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd)).isZero();
  }
}
