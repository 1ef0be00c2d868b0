package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import io.grpc.stub.StreamObserver;
import io.layerns.csi.RealMounts;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.node.NoCluster;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.transport.PeerFetcher;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host users cannot reach what the node plugin keeps for pods (issue 15, attack 5), while a pod
 * still runs its image's setuid binaries. The store and the plugin's state are laid out as the
 * plugin lays them out, in a folder every host user may traverse; the volumes are published through
 * the Node service with real overlay mounts (as root, in this JVM's own mount namespace); the other
 * host user is {@code nobody} (uid 65534), through {@code setpriv}.
 */
class HostUserIsolationIT {

  private static final int NOBODY = 65534;
  private static final String IMAGE = "registry.example/team/app:v1";
  private static final String SECRET = "only for pods of this image\n";

  @TempDir Path tmp;

  private Path dir;
  private LocalLayerStore store;
  private NodeService node;
  private VolumeStateStore states;
  private TestImage image;

  @BeforeEach
  void setUp() throws Exception {
    RealMounts.assumeRoot();
    // The temp folder is private to root; open it as /var/lib is, so only layerns's own modes
    // stand between a host user and the store.
    dir = Files.createDirectories(tmp.resolve("host"));
    chmod(tmp, "755");
    chmod(dir, "755");
    Files.writeString(dir.resolve("readable-by-anyone"), "yes\n");
    chmod(dir.resolve("readable-by-anyone"), "644");

    // A layer with a setuid-root binary (a copy of id(1)) and a file only the image should show.
    byte[] tar =
        new TarBuilder()
            .dir("./", 0755)
            .dir("usr", 0755)
            .dir("usr/bin", 0755)
            .file("usr/bin/suid-id", Files.readAllBytes(Path.of("/usr/bin/id")), 04755)
            .dir("etc", 0755)
            .file("etc/app-secret", SECRET, 0644)
            .build();
    image =
        new TestImage(
            Platform.LINUX_AMD64,
            List.of(new TestImage.Layer(Map.of(), TestImage.Compression.NONE, tar, tar)),
            false);
    image.writeLayout(tmp.resolve("layout"), "v1");

    // The plugin's two folders, made as the plugin makes them.
    store = LocalLayerStore.open(dir.resolve("store"));
    states = VolumeStateStore.open(dir.resolve("csi"));
    ImageImporter importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    importer.importLayout(tmp.resolve("layout"), ImageReference.parse(IMAGE));
    node =
        new NodeService(
            "node-1",
            new StoreVolumeAssembler(
                "node-1",
                importer,
                new PeerFetcher(
                    importer,
                    PeerFetcher.httpClient(
                        null,
                        io.layerns.csi.transport.TestNodeKeys.generate(),
                        (host, port) -> java.util.Optional.empty()),
                    Duration.ofSeconds(10)),
                new NoCluster(),
                Map.of(),
                dir.resolve("csi")),
            new CommandMounter(dir.resolve("csi/scratch")),
            states);
  }

  @AfterEach
  void tearDown() throws Exception {
    RealMounts.unmountAllUnder(tmp);
    if (store != null) {
      store.close();
    }
  }

  @Test
  @DisplayName(
      "When a host user other than root looks into the store or the plugin's state, then nothing"
          + " there can be read, listed or run, not even a setuid binary of an image")
  void hostUsersReachNothingInTheStoreOrThePluginState() throws Exception {
    Path readOnly = publish("vol-ro", true);
    Path writable = publish("vol-rw", false);
    Files.writeString(writable.resolve("etc/written-by-the-pod"), "pod data\n");
    Path layerTree = store.layer(image.layers().getFirst().digest()).orElseThrow().directory();
    Path upper = states.upperDir("vol-rw");
    assertThat(upper.resolve("etc/written-by-the-pod")).hasContent("pod data\n");

    // The other user can get this far: the folder around the store is open to all.
    assertThat(asNobody("cat", dir.resolve("readable-by-anyone").toString()).output())
        .isEqualTo("yes\n");

    List<String> reached = new ArrayList<>();
    for (List<String> attempt :
        List.of(
            List.of("ls", dir.resolve("store").toString()),
            List.of("ls", dir.resolve("csi").toString()),
            List.of("cat", layerTree.resolve("etc/app-secret").toString()),
            List.of(layerTree.resolve("usr/bin/suid-id").toString(), "-u"),
            List.of("cat", upper.resolve("etc/written-by-the-pod").toString()),
            List.of("stat", store.root().resolve("blobs").toString()))) {
      Run r = asNobody(attempt.toArray(String[]::new));
      if (r.exit() == 0) {
        reached.add(String.join(" ", attempt) + " -> " + r.output().strip());
      } else {
        assertThat(r.output()).as(String.join(" ", attempt)).contains("Permission denied");
      }
    }
    assertThat(reached).as("what uid %d reached", NOBODY).isEmpty();
    assertThat(readOnly.resolve("etc/app-secret")).hasContent(SECRET);
  }

  @Test
  @DisplayName(
      "When a process that is not root runs the image's setuid-root binary through a volume, then"
          + " it runs as root, as in a container")
  void setuidBinariesStillWorkThroughTheVolume() throws Exception {
    for (boolean readOnly : List.of(true, false)) {
      Path target = publish(readOnly ? "vol-suid-ro" : "vol-suid-rw", readOnly);

      Run real = asNobody(target.resolve("usr/bin/suid-id").toString(), "-ru");
      Run effective = asNobody(target.resolve("usr/bin/suid-id").toString(), "-u");

      assertThat(real.output()).as("real uid, read-only=%s", readOnly).isEqualTo(NOBODY + "\n");
      assertThat(effective.output()).as("effective uid, read-only=%s", readOnly).isEqualTo("0\n");
      assertThat(asNobody("cat", target.resolve("etc/app-secret").toString()).output())
          .isEqualTo(SECRET);
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Publishes the image as the kubelet does; the target's parents are open, as in a pod's view. */
  private Path publish(String volumeId, boolean readOnly) throws Exception {
    Path parent =
        Files.createDirectories(
            dir.resolve("kubelet/pods/" + volumeId + "/volumes/kubernetes.io~csi/app"));
    for (Path p = parent; !p.equals(dir); p = p.getParent()) {
      chmod(p, "755");
    }
    Path target = parent.resolve("mount");
    NodePublishVolumeRequest request =
        NodePublishVolumeRequest.newBuilder()
            .setVolumeId(volumeId)
            .setTargetPath(target.toString())
            .setReadonly(readOnly)
            .setVolumeCapability(
                VolumeCapability.newBuilder()
                    .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                    .setAccessMode(
                        AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)))
            .putVolumeContext(NodeService.IMAGE_KEY, IMAGE)
            .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
            .build();
    node.nodePublishVolume(request, new Ignored<>());
    assertThat(target.resolve("etc/app-secret")).hasContent(SECRET);
    return target;
  }

  private record Run(int exit, String output) {}

  /**
   * Runs a command as uid and gid 65534 with no supplementary groups, and no capability: setpriv
   * still holds root's capabilities when it execs, which would resolve the command's own path past
   * any mode, so a shell (which has none) execs the command as a host user's shell would.
   */
  private static Run asNobody(String... command) throws IOException, InterruptedException {
    List<String> argv =
        new ArrayList<>(
            List.of(
                "setpriv",
                "--reuid=" + NOBODY,
                "--regid=" + NOBODY,
                "--clear-groups",
                "--",
                "/bin/sh",
                "-c",
                "exec \"$@\"",
                "sh"));
    argv.addAll(List.of(command));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("%s finishes", argv).isTrue();
    return new Run(p.exitValue(), out);
  }

  private static void chmod(Path p, String mode) throws IOException, InterruptedException {
    Process c = new ProcessBuilder("chmod", mode, p.toString()).inheritIO().start();
    assertThat(c.waitFor(10, TimeUnit.SECONDS) && c.exitValue() == 0).as("chmod " + p).isTrue();
  }

  /** A response observer for calls whose answer is only "no exception". */
  private static final class Ignored<T> implements StreamObserver<T> {
    @Override
    public void onNext(T value) {}

    @Override
    public void onError(Throwable t) {
      throw new AssertionError(t);
    }

    @Override
    public void onCompleted() {}
  }
}
