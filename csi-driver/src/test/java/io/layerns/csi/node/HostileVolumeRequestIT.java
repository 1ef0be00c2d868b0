package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import csi.v1.Csi.NodeGetInfoRequest;
import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.layerns.csi.RealMounts;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile CSI requests against the real node plugin on its Unix socket (NodeService with the
 * store-backed assembler, real overlay mounts, a registry holding one good image): each refused
 * with the field named, no file created outside the plugin's state directory, and the plugin still
 * answering NodeGetInfo and publishing a good volume afterwards. Volume IDs that are odd but legal
 * ('/', '..') are served, with their state kept inside the state directory.
 */
class HostileVolumeRequestIT {
  private static final String REPO = "team/app";
  private static final String VOLUME = "csi-0123456789abcdef0123456789abcdef";
  private static final TestImage IMAGE = TestImage.threeLayers("v1", Platform.LINUX_AMD64);

  @TempDir Path base;
  private FakeRegistry registry;
  private SocketPlugin plugin;
  private NodeGrpc.NodeBlockingStub node;
  private Path pods;
  private Path escaped;

  /**
   * One hostile request, and what the refusal must say.
   *
   * @param request builds it from a good request and {@link #escaped}, a path it must not create
   */
  record Case(
      String title,
      BiFunction<NodePublishVolumeRequest.Builder, Path, Object> request,
      Status.Code code,
      String message) {
    @Override
    public String toString() {
      return title;
    }
  }

  @BeforeEach
  void startPlugin() throws Exception {
    RealMounts.assumeRoot();
    registry = FakeRegistry.start();
    registry.push(REPO, IMAGE, "v1");
    plugin = SocketPlugin.start(base, RegistryAddresses.parse("127.0.0.0/8"));
    node = plugin.node();
    pods = Files.createDirectories(base.resolve("kubelet/pods"));
    escaped = base.resolve("escaped");
  }

  @AfterEach
  void stopPlugin() throws Exception {
    if (registry == null) {
      return;
    }
    RealMounts.unmountAllUnder(base);
    if (plugin != null) {
      plugin.close();
    }
    registry.close();
  }

  static Stream<Case> corpus() {
    return Stream.of(
        // ---- volume ID
        refused(
            "volume ID with NUL", (b, e) -> b.setVolumeId("csi-\0" + e), "volume ID \"csi-\\x00"),
        refused(
            "volume ID with a newline (log injection)",
            (b, e) -> b.setVolumeId("csi-1\nINFO forged line"),
            "volume ID \"csi-1\\x0aINFO forged line\" contains a control character"),
        refused(
            "volume ID of 10 KB",
            (b, e) -> b.setVolumeId("v".repeat(10_000)),
            "volume ID is 10000 bytes, more than 128"),
        // ---- target path
        refused(
            "target path relative",
            (b, e) -> b.setTargetPath("pods/uid/volumes/kubernetes.io~csi/app/mount"),
            "target path \"pods/uid/volumes/kubernetes.io~csi/app/mount\" is not absolute"),
        refused(
            "target path climbing out with '..'",
            (b, e) -> b.setTargetPath(b.getTargetPath() + "/../../../../../../escaped"),
            "is not normal: it has '.', '..' or repeated '/'"),
        refused(
            "target path with a '.' component",
            (b, e) -> b.setTargetPath(b.getTargetPath().replace("/mount", "/./mount")),
            "is not normal"),
        refused(
            "target path with NUL",
            (b, e) -> b.setTargetPath(e + "\0/mount"),
            "contains a control character"),
        refused(
            "target path of 5,000 characters",
            (b, e) -> b.setTargetPath("/" + "p".repeat(4999)),
            "target path is 5000 characters, more than 4096"),
        // ---- the image attribute
        refused(
            "image missing",
            (b, e) -> b.removeVolumeContext("image"),
            "volume attribute \"image\" missing"),
        refused(
            "image empty",
            (b, e) -> b.putVolumeContext("image", ""),
            "volume attribute \"image\" missing"),
        refused(
            "image with NUL",
            (b, e) -> b.putVolumeContext("image", "registry.example/app\0:1"),
            "volume attribute \"image\" \"registry.example/app\\x00:1\" contains whitespace or a"
                + " control character"),
        refused(
            "image with control characters",
            (b, e) -> b.putVolumeContext("image", "registry.example/app:1\u001b[2J"),
            "contains whitespace or a control character"),
        refused(
            "image with spaces (an option smuggled in)",
            (b, e) -> b.putVolumeContext("image", "registry.example/app:1 --privileged"),
            "contains whitespace or a control character"),
        refused(
            "image with a trailing newline",
            (b, e) -> b.putVolumeContext("image", "registry.example/app:1\n"),
            "contains whitespace or a control character"),
        refused(
            "image that is a relative path",
            (b, e) -> b.putVolumeContext("image", "../../../../etc/passwd"),
            "volume attribute \"image\" is not a valid image reference"),
        refused(
            "image naming a path on the node",
            (b, e) -> b.putVolumeContext("image", e.toString()),
            "volume attribute \"image\" is not a valid image reference"),
        refused(
            "image with an upper-case repository",
            (b, e) -> b.putVolumeContext("image", "registry.example/Team/App:1"),
            "must be lowercase"),
        refused(
            "image digest that is not sha256",
            (b, e) -> b.putVolumeContext("image", "registry.example/app@md5:0123"),
            "is not a valid image reference"),
        refused(
            "image of 1 MB",
            (b, e) -> b.putVolumeContext("image", "r/" + "a".repeat(1 << 20)),
            "volume attribute \"image\" is 1048578 characters, more than 512"),
        refused(
            "unknown attribute (a misspelt image)",
            (b, e) -> b.putVolumeContext("imgae", "registry.example/app:1"),
            "unknown volume attribute \"imgae\": csi.layerns.io takes only \"image\""),
        refused(
            "unknown attribute with a 1 MB name",
            (b, e) -> b.putVolumeContext("x".repeat(1 << 20), "1"),
            "unknown volume attribute \"xxxx"),
        new Case(
            "well-formed image that no registry has",
            (b, e) ->
                b.putVolumeContext(
                    "image", b.getVolumeContextOrThrow("image").replace(REPO, "team/absent")),
            Status.Code.NOT_FOUND,
            "team/absent"),
        new Case(
            "well-formed digest that nobody has",
            (b, e) ->
                b.putVolumeContext(
                    "image",
                    b.getVolumeContextOrThrow("image")
                        .replace(":v1", "@" + Digest.of(new byte[] {1}))),
            Status.Code.NOT_FOUND,
            Digest.of(new byte[] {1}).toString()),
        // ---- unpublish
        new Case(
            "unpublish: volume ID with NUL",
            (b, e) -> unpublish(b).setVolumeId("csi-\0").build(),
            Status.Code.INVALID_ARGUMENT,
            "volume ID \"csi-\\x00\" contains a control character"),
        new Case(
            "unpublish: target path climbing out with '..'",
            (b, e) ->
                unpublish(b)
                    .setTargetPath(b.getTargetPath() + "/../../../../../../escaped")
                    .build(),
            Status.Code.INVALID_ARGUMENT,
            "is not normal"),
        new Case(
            "unpublish: target path relative",
            (b, e) -> unpublish(b).setTargetPath("escaped").build(),
            Status.Code.INVALID_ARGUMENT,
            "target path \"escaped\" is not absolute"));
  }

  @ParameterizedTest(name = "[refused] {0}")
  @MethodSource("corpus")
  void refusedWithTheFieldNamedNothingWrittenOutsideAndThePluginStillServes(Case c)
      throws Exception {
    NodePublishVolumeRequest.Builder good = goodRequest(VOLUME, "hostile");
    Object request = c.request().apply(good, escaped);
    Set<String> before = treeOutsideState();

    assertThatThrownBy(
            () -> {
              if (request instanceof NodeUnpublishVolumeRequest u) {
                node.nodeUnpublishVolume(u);
              } else {
                node.nodePublishVolume(((NodePublishVolumeRequest.Builder) request).build());
              }
            })
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(c.code());
              assertThat(e.getStatus().getDescription()).contains(c.message());
              // A hostile value is quoted short: a megabyte never comes back in an error.
              assertThat(e.getStatus().getDescription().length()).isLessThan(4096);
            });

    assertThat(Files.exists(escaped)).as("%s exists", escaped).isFalse();
    assertThat(treeOutsideState()).isEqualTo(before);
    assertThat(MountTable.mountsUnder(base)).isEmpty();
    stillServes();
  }

  /** IDs with '/' and '..' are legal in CSI; their state lives under a hash of the ID. */
  @ParameterizedTest(name = "[contained] volume ID {0}")
  @MethodSource("oddVolumeIds")
  void oddButLegalVolumeIdsStayInsideTheStateDirectory(String volumeId) throws Exception {
    NodePublishVolumeRequest req = goodRequest(volumeId, "odd").build();
    Set<String> before = treeOutsideState();

    node.nodePublishVolume(req);
    assertThat(Files.readString(Path.of(req.getTargetPath()).resolve("bin/hello")))
        .isEqualTo("hello v1");
    node.nodeUnpublishVolume(unpublish(req.toBuilder()).build());

    assertThat(Files.exists(escaped)).isFalse();
    assertThat(treeOutsideState()).isEqualTo(before);
    assertThat(MountTable.mountsUnder(base)).isEmpty();
  }

  static Stream<String> oddVolumeIds() {
    return Stream.of("../../../../escaped", "a/b/../../c", "..", "/etc/passwd", "escaped/state");
  }

  // ---- helpers ------------------------------------------------------------------------------

  private static Case refused(
      String title,
      BiFunction<NodePublishVolumeRequest.Builder, Path, NodePublishVolumeRequest.Builder> change,
      String message) {
    return new Case(title, change::apply, Status.Code.INVALID_ARGUMENT, message);
  }

  private static NodeUnpublishVolumeRequest.Builder unpublish(NodePublishVolumeRequest.Builder b) {
    return NodeUnpublishVolumeRequest.newBuilder()
        .setVolumeId(b.getVolumeId())
        .setTargetPath(b.getTargetPath());
  }

  /** NodeGetInfo answers, and a good volume publishes with its files and unpublishes. */
  private void stillServes() throws IOException {
    assertThat(node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()).getNodeId())
        .isEqualTo("node-1");
    NodePublishVolumeRequest good = goodRequest("csi-good", "good").build();
    node.nodePublishVolume(good);
    Path target = Path.of(good.getTargetPath());
    assertThat(Files.readString(target.resolve("etc/os-release"))).isEqualTo("ID=test-v1\n");
    node.nodeUnpublishVolume(unpublish(good.toBuilder()).build());
    assertThat(MountTable.mountsUnder(base)).isEmpty();
  }

  private NodePublishVolumeRequest.Builder goodRequest(String volumeId, String pod)
      throws IOException {
    Path target = pods.resolve(pod + "-uid/volumes/kubernetes.io~csi/app/mount");
    Files.createDirectories(target.getParent());
    return NodePublishVolumeRequest.newBuilder()
        .setVolumeId(volumeId)
        .setTargetPath(target.toString())
        .setReadonly(true)
        .setVolumeCapability(
            VolumeCapability.newBuilder()
                .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                .setAccessMode(
                    AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_READER_ONLY)))
        .putVolumeContext("image", registry.host() + "/" + REPO + ":v1")
        .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
        .putVolumeContext(PodInfo.NAME, pod)
        .putVolumeContext(PodInfo.NAMESPACE, "shop");
  }

  /**
   * Every path under the test's base except the plugin's own state, store and CSI directories
   * (which a good publish legitimately changes) and the kubelet's target directories.
   */
  private Set<String> treeOutsideState() throws IOException {
    Set<String> paths = new TreeSet<>();
    Path plugin = base.resolve("plugin");
    try (Stream<Path> s = Files.walk(base)) {
      s.filter(p -> !p.startsWith(plugin) || p.getParent().equals(base))
          .filter(p -> !p.startsWith(pods) || p.getNameCount() <= pods.getNameCount() + 1)
          .forEach(p -> paths.add(base.relativize(p).toString()));
    }
    return paths;
  }
}
