package io.layerns.csi.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.layerns.csi.CsiServer;
import io.layerns.csi.GrpcChannels;
import io.layerns.csi.RealMounts;
import io.layerns.csi.node.LocalDirectoryAssembler;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.VolumeStateStore;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real overlay mounts through the Node service on its Unix socket, as root. */
class OverlayMountIT {

  private static final String IMAGE = "registry.example/app:1";

  @TempDir Path tmp;

  private LocalDirectoryAssembler images;
  private VolumeStateStore states;
  private CsiServer server;
  private GrpcChannels client;
  private NodeGrpc.NodeBlockingStub node;

  @BeforeEach
  void setUp() throws Exception {
    RealMounts.assumeRoot();
    images = new LocalDirectoryAssembler(tmp.resolve("images"));
    Path base = layer(IMAGE, 0);
    write(base, "etc/os-release", "base");
    write(base, "gone.txt", "deleted by the top layer");
    write(base, "dir/a", "a");
    Path middle = layer(IMAGE, 1);
    write(middle, "etc/os-release", "middle");
    write(middle, "dir/b", "b");
    Path top = layer(IMAGE, 2);
    // An overlay-format whiteout: a 0/0 character device hides the file below.
    run("mknod", top.resolve("gone.txt").toString(), "c", "0", "0");
    write(top, "bin/tool", "#!/bin/sh\n");
    // A device node as an image may hold one: the host's /dev/null, and a FIFO.
    Files.createDirectories(top.resolve("dev"));
    run("mknod", top.resolve("dev/null").toString(), "c", "1", "3");
    run("mknod", top.resolve("dev/fifo").toString(), "p");
    Files.setPosixFilePermissions(
        top.resolve("bin/tool"), PosixFilePermissions.fromString("rwxr-xr-x"));
    states = new VolumeStateStore(tmp.resolve("state"));
    startPlugin();
  }

  @AfterEach
  void tearDown() throws Exception {
    if (client != null) {
      client.close();
      server.close();
    }
    // Whatever a failed test left mounted goes, so the temp folder can be deleted.
    RealMounts.unmountAllUnder(tmp);
  }

  @Test
  void readOnlyVolumeShowsTheImageTopLayerFirstAndRefusesWrites() throws Exception {
    Path target = target("ro");

    node.nodePublishVolume(publish("vol-ro", target, true));

    assertThat(target.resolve("etc/os-release")).hasContent("middle");
    assertThat(target.resolve("dir/a")).hasContent("a");
    assertThat(target.resolve("dir/b")).hasContent("b");
    assertThat(target.resolve("gone.txt")).doesNotExist();
    assertThat(Files.getPosixFilePermissions(target.resolve("bin/tool")))
        .isEqualTo(PosixFilePermissions.fromString("rwxr-xr-x"));
    assertThatThrownBy(() -> Files.writeString(target.resolve("new.txt"), "x"))
        .isInstanceOf(FileSystemException.class)
        .hasMessageContaining("Read-only file system");
    assertThat(MountTable.mountsUnder(target))
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.fsType()).isEqualTo("overlay");
              assertThat(e.source()).isEqualTo(CommandMounter.OVERLAY_SOURCE);
              // No upper layer: overlayfs makes the superblock read-only.
              assertThat(e.superOptions()).startsWith("ro,");
            });

    node.nodeUnpublishVolume(unpublish("vol-ro", target));

    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
    assertThat(target).doesNotExist();
    assertThat(images.imageDirectory(IMAGE).resolve("0/etc/os-release")).hasContent("base");
  }

  /**
   * A device node from an image shows in the volume with its numbers, but opening it fails, even as
   * root: the overlay is mounted nodev (and so is the bind the pod gets), so a layer can never be a
   * way to a host device, whatever the pod's device cgroup allows.
   */
  @Test
  void deviceNodesShowButCannotBeOpenedInReadOnlyAndWritableVolumes() throws Exception {
    for (boolean readOnly : List.of(true, false)) {
      Path target = target(readOnly ? "dev-ro" : "dev-rw");
      node.nodePublishVolume(publish(readOnly ? "vol-dev-ro" : "vol-dev-rw", target, readOnly));

      Path dev = target.resolve("dev/null");
      assertThat(Files.getAttribute(dev, "unix:rdev", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0x103L);
      assertThatThrownBy(() -> Files.newInputStream(dev).close())
          .isInstanceOf(java.nio.file.AccessDeniedException.class);
      assertThat(MountTable.mountsUnder(target))
          .isNotEmpty()
          .allSatisfy(e -> assertThat(e.mountOptions().split(",")).contains("nodev"));
    }
  }

  @Test
  void writableVolumeTakesWritesThatNoOtherVolumeSees() throws Exception {
    Path a = target("a");
    Path b = target("b");
    Path ro = target("ro");
    node.nodePublishVolume(publish("vol-a", a, false));
    node.nodePublishVolume(publish("vol-b", b, false));
    node.nodePublishVolume(publish("vol-ro", ro, true));

    Files.writeString(a.resolve("new.txt"), "only in a");
    Files.writeString(a.resolve("etc/os-release"), "changed in a");
    Files.delete(a.resolve("dir/a"));

    assertThat(a.resolve("new.txt")).hasContent("only in a");
    assertThat(a.resolve("etc/os-release")).hasContent("changed in a");
    assertThat(a.resolve("dir/a")).doesNotExist();
    for (Path other : List.of(b, ro)) {
      assertThat(other.resolve("new.txt")).doesNotExist();
      assertThat(other.resolve("etc/os-release")).hasContent("middle");
      assertThat(other.resolve("dir/a")).hasContent("a");
    }
    Path layers = images.imageDirectory(IMAGE);
    assertThat(layers.resolve("1/etc/os-release")).hasContent("middle");
    assertThat(layers.resolve("0/dir/a")).hasContent("a");
    assertThat(states.upperDir("vol-a").resolve("new.txt")).hasContent("only in a");

    for (var v : List.of(List.of("vol-a", a), List.of("vol-b", b), List.of("vol-ro", ro))) {
      node.nodeUnpublishVolume(unpublish((String) v.get(0), (Path) v.get(1)));
    }

    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
    assertThat(states.volumeDir("vol-a")).doesNotExist();
    assertThat(states.volumeDir("vol-b")).doesNotExist();
    assertThat(List.of(a, b, ro)).allSatisfy(t -> assertThat(t).doesNotExist());
  }

  @Test
  void imageWithManyLayersUnderALongPathMountsThroughShortLinks() throws Exception {
    // 120 layers under a long folder name do not fit a 4096-byte option string.
    String image = "registry.example/" + "very-long-repository-name-".repeat(4) + "app:many";
    int count = 120;
    for (int i = 0; i < count; i++) {
      Path layer = layer(image, i);
      write(layer, "layer-" + i, Integer.toString(i));
      write(layer, "which", Integer.toString(i));
    }
    Path target = target("many");

    node.nodePublishVolume(publish("vol-many", target, false, image));

    assertThat(target.resolve("which")).hasContent(Integer.toString(count - 1));
    for (int i = 0; i < count; i++) {
      assertThat(target.resolve("layer-" + i)).hasContent(Integer.toString(i));
    }
    Files.writeString(target.resolve("which"), "mine");
    assertThat(states.upperDir("vol-many").resolve("which")).hasContent("mine");
    // The links were needed only while mounting.
    assertThat(tmp.resolve("scratch")).isDirectoryNotContaining("glob:**/links-*");

    node.nodeUnpublishVolume(unpublish("vol-many", target));
    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
  }

  @Test
  void singleLayerImageMountsReadOnly() throws Exception {
    write(layer("single:1", 0), "hello", "world");
    Path target = target("single");

    node.nodePublishVolume(publish("vol-single", target, true, "single:1"));

    assertThat(target.resolve("hello")).hasContent("world");
    try (var entries = Files.list(target)) {
      assertThat(entries).containsExactly(target.resolve("hello"));
    }
    node.nodeUnpublishVolume(unpublish("vol-single", target));
    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
  }

  @Test
  void restartedPluginKeepsTheMountAndUnpublishesIt() throws Exception {
    Path target = target("kept");
    node.nodePublishVolume(publish("vol-kept", target, false));
    Files.writeString(target.resolve("note"), "before restart");

    client.close();
    server.close();
    assertThat(target.resolve("note")).hasContent("before restart");
    startPlugin();

    node.nodePublishVolume(publish("vol-kept", target, false));
    assertThat(target.resolve("note")).hasContent("before restart");
    node.nodeUnpublishVolume(unpublish("vol-kept", target));

    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
    assertThat(states.volumeDir("vol-kept")).doesNotExist();
  }

  @Test
  void readOnlyBindMountRefusesWrites() throws Exception {
    Path source = Files.createDirectories(tmp.resolve("source"));
    Files.writeString(source.resolve("f"), "from source");
    Path target = Files.createDirectories(tmp.resolve("bound"));
    Mounter mounter = new CommandMounter(tmp.resolve("scratch"));

    mounter.bind(source, target, true);
    try {
      assertThat(mounter.isMountPoint(target)).isTrue();
      assertThat(target.resolve("f")).hasContent("from source");
      assertThatThrownBy(() -> Files.writeString(target.resolve("f"), "x"))
          .hasMessageContaining("Read-only file system");
    } finally {
      mounter.unmount(target);
    }
    assertThat(mounter.isMountPoint(target)).isFalse();
  }

  @Test
  void theseTestsRunInTheirOwnMountNamespace() throws Exception {
    // The failsafe JVM wrapper puts them there as root; if it did not, mounts could reach the host.
    assertThat(RealMounts.inPrivateMountNamespace()).isTrue();
  }

  private void startPlugin() throws IOException {
    var service =
        new NodeService("node-1", images, new CommandMounter(tmp.resolve("scratch")), states);
    server = CsiServer.start(tmp.resolve("csi.sock"), List.of(service));
    client = new GrpcChannels(server.socket());
    node = NodeGrpc.newBlockingStub(client.channel());
  }

  private Path target(String name) throws IOException {
    // The kubelet creates the parent; the plugin creates the target folder itself.
    Path parent = tmp.resolve("kubelet/pods/" + name + "/volumes/kubernetes.io~csi/" + name);
    Files.createDirectories(parent);
    return parent.resolve("mount");
  }

  private static NodePublishVolumeRequest publish(String volumeId, Path target, boolean readOnly) {
    return publish(volumeId, target, readOnly, IMAGE);
  }

  private static NodePublishVolumeRequest publish(
      String volumeId, Path target, boolean readOnly, String image) {
    return NodePublishVolumeRequest.newBuilder()
        .setVolumeId(volumeId)
        .setTargetPath(target.toString())
        .setReadonly(readOnly)
        .setVolumeCapability(
            VolumeCapability.newBuilder()
                .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                .setAccessMode(AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)))
        .putVolumeContext("image", image)
        .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
        .build();
  }

  private static NodeUnpublishVolumeRequest unpublish(String volumeId, Path target) {
    return NodeUnpublishVolumeRequest.newBuilder()
        .setVolumeId(volumeId)
        .setTargetPath(target.toString())
        .build();
  }

  private Path layer(String image, int index) throws IOException {
    return Files.createDirectories(images.imageDirectory(image).resolve(Integer.toString(index)));
  }

  private static void write(Path layer, String file, String content) throws IOException {
    Path p = layer.resolve(file);
    Files.createDirectories(p.getParent());
    Files.writeString(p, content);
  }

  private static void run(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).inheritIO().start();
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed");
    }
    assertThat(Files.exists(Path.of(cmd[1]), LinkOption.NOFOLLOW_LINKS)).isTrue();
  }
}
