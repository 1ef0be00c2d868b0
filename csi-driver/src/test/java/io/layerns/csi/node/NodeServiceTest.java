package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import csi.v1.Csi.NodeGetCapabilitiesRequest;
import csi.v1.Csi.NodeGetInfoRequest;
import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.layerns.csi.CallLogger;
import io.layerns.csi.mount.RecordingMounter;
import io.layerns.csi.registry.DockerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class NodeServiceTest {
  // A volume's secrets as the kubelet passes its nodePublishSecretRef: s3cr3t must never show.
  private static final String PULL_SECRET =
      "{\"auths\":{\"registry.example\":{\"auth\":\"dGVhbTpzM2NyM3Q=\"}}}";

  private static final String IMAGE = "registry.example:5000/team/app:1.0";
  private static final String VOLUME = "csi-0123456789abcdef";

  @TempDir Path tmp;

  private LocalDirectoryAssembler images;
  private RecordingMounter mounter;
  private VolumeStateStore states;
  private Server server;
  private ManagedChannel channel;
  private NodeGrpc.NodeBlockingStub node;
  private Path target;
  private List<Path> layers;

  @BeforeEach
  void setUp() throws IOException {
    images = new LocalDirectoryAssembler(tmp.resolve("images"));
    layers = List.of(layer(IMAGE, 0), layer(IMAGE, 1), layer(IMAGE, 2));
    mounter = new RecordingMounter();
    states = new VolumeStateStore(tmp.resolve("state"));
    target = tmp.resolve("pods/uid/volumes/kubernetes.io~csi/vol/mount");
    Files.createDirectories(target.getParent());
    serve(new NodeService("node-1", images, mounter, states));
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  static Stream<Arguments> invalidPublishRequests() {
    return Stream.of(
        error(
            "[Error] missing volume id",
            b -> b.clearVolumeId(),
            Status.Code.INVALID_ARGUMENT,
            "volume ID missing in request"),
        error(
            "[Error] missing target path",
            b -> b.clearTargetPath(),
            Status.Code.INVALID_ARGUMENT,
            "target path missing in request"),
        error(
            "[Error] missing volume capability",
            b -> b.clearVolumeCapability(),
            Status.Code.INVALID_ARGUMENT,
            "volume capability missing in request"),
        error(
            "[Error] missing image attribute",
            b -> b.removeVolumeContext("image"),
            Status.Code.INVALID_ARGUMENT,
            "volume attribute \"image\" missing"),
        error(
            "[Error] not ephemeral",
            b -> b.removeVolumeContext(NodeService.EPHEMERAL_KEY),
            Status.Code.INVALID_ARGUMENT,
            "is not a CSI ephemeral inline volume"),
        error(
            "[Error] ephemeral false",
            b -> b.putVolumeContext(NodeService.EPHEMERAL_KEY, "false"),
            Status.Code.INVALID_ARGUMENT,
            "is not a CSI ephemeral inline volume"),
        error(
            "[Error] block access type",
            b ->
                b.setVolumeCapability(
                    VolumeCapability.newBuilder()
                        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
                        .setAccessMode(
                            AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER))),
            Status.Code.INVALID_ARGUMENT,
            "block access type is not supported"),
        error(
            "[Error] relative target path",
            b -> b.setTargetPath("relative/mount"),
            Status.Code.INVALID_ARGUMENT,
            "target path \"relative/mount\" is not absolute"),
        error(
            "[Error] secret that is no dockerconfigjson",
            b ->
                b.clearSecrets().putSecrets("username", "team").putSecrets("password", "not-shown"),
            Status.Code.INVALID_ARGUMENT,
            "nodePublishSecretRef Secret is not usable as registry credentials: the secret has no"
                + " .dockerconfigjson key"),
        error(
            "[Error] unknown image",
            b -> b.putVolumeContext("image", "registry.example/absent:1"),
            Status.Code.NOT_FOUND,
            "image registry.example/absent:1 not found"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidPublishRequests")
  void publishRefusesInvalidRequest(
      UnaryOperator<NodePublishVolumeRequest.Builder> change, Status.Code code, String message)
      throws IOException {
    NodePublishVolumeRequest req = change.apply(publishRequest(true).toBuilder()).build();

    assertThatThrownBy(() -> node.nodePublishVolume(req))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(message);
            });
    assertThat(mounter.calls()).isEmpty();
    assertThat(states.load(VOLUME)).isEmpty();
  }

  static Stream<Arguments> invalidUnpublishRequests() {
    return Stream.of(
        Arguments.of(
            Named.of(
                "[Error] missing volume id",
                NodeUnpublishVolumeRequest.newBuilder().setTargetPath("/mnt/x").build()),
            "volume ID missing in request"),
        Arguments.of(
            Named.of(
                "[Error] missing target path",
                NodeUnpublishVolumeRequest.newBuilder().setVolumeId(VOLUME).build()),
            "target path missing in request"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidUnpublishRequests")
  void unpublishRefusesInvalidRequest(NodeUnpublishVolumeRequest req, String message) {
    assertThatThrownBy(() -> node.nodeUnpublishVolume(req))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).isEqualTo(message);
            });
  }

  @Test
  void nodeInfoIsTheNodeNameAndNoCapabilityIsClaimed() {
    assertThat(node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()).getNodeId())
        .isEqualTo("node-1");
    assertThat(
            node.nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance())
                .getCapabilitiesList())
        .isEmpty();
  }

  @Test
  void readOnlyPublishMountsTheLayersBaseFirstAndRemembersThem() throws IOException {
    node.nodePublishVolume(publishRequest(true));

    assertThat(mounter.mounted())
        .containsOnlyKeys(target)
        .containsEntry(target, new RecordingMounter.Mount("overlay-ro", layers, null, null));
    VolumeState state = states.load(VOLUME).orElseThrow();
    assertThat(state.targetPath()).isEqualTo(target);
    assertThat(state.image()).isEqualTo(IMAGE);
    assertThat(state.layers()).isEqualTo(layers);
    assertThat(state.upperDir()).isNull();
  }

  @Test
  void readerOnlyAccessModeIsReadOnlyEvenWithoutTheReadonlyFlag() {
    NodePublishVolumeRequest req =
        publishRequest(false).toBuilder()
            .setVolumeCapability(capability(AccessMode.Mode.MULTI_NODE_READER_ONLY))
            .build();

    node.nodePublishVolume(req);

    assertThat(mounter.mounted().get(target).kind()).isEqualTo("overlay-ro");
  }

  @Test
  void writablePublishGetsAPrivateUpperLayerThatUnpublishDeletes() throws IOException {
    node.nodePublishVolume(publishRequest(false));

    RecordingMounter.Mount m = mounter.mounted().get(target);
    assertThat(m.kind()).isEqualTo("overlay-rw");
    assertThat(m.layersBaseFirst()).isEqualTo(layers);
    assertThat(m.upperDir()).isDirectory().isEqualTo(states.upperDir(VOLUME));
    assertThat(m.workDir()).isDirectory().isEqualTo(states.workDir(VOLUME));

    node.nodeUnpublishVolume(unpublishRequest());

    assertThat(mounter.mounted()).isEmpty();
    assertThat(m.upperDir()).doesNotExist();
    assertThat(m.workDir()).doesNotExist();
    assertThat(target).doesNotExist();
    assertThat(states.load(VOLUME)).isEmpty();
  }

  @Test
  void publishIsIdempotentForSameTarget() {
    node.nodePublishVolume(publishRequest(true));
    node.nodePublishVolume(publishRequest(true));

    assertThat(mounter.calls()).containsExactly("overlay-ro " + target);
  }

  @Test
  void publishOfSameVolumeWithAnotherImageIsAlreadyExists() throws IOException {
    layer("other:2", 0);
    node.nodePublishVolume(publishRequest(true));

    assertThatThrownBy(
            () ->
                node.nodePublishVolume(
                    publishRequest(true).toBuilder().putVolumeContext("image", "other:2").build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
              assertThat(e.getStatus().getDescription()).contains("with image " + IMAGE);
            });
  }

  @Test
  void publishOfSameVolumeAtAnotherTargetIsFailedPrecondition() {
    node.nodePublishVolume(publishRequest(true));
    Path other = tmp.resolve("other/mount");

    assertThatThrownBy(
            () ->
                node.nodePublishVolume(
                    publishRequest(true).toBuilder().setTargetPath(other.toString()).build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.getStatus().getDescription())
                  .isEqualTo("volume " + VOLUME + " is already published at " + target);
            });
  }

  @Test
  void unpublishIsIdempotent() {
    node.nodePublishVolume(publishRequest(true));

    node.nodeUnpublishVolume(unpublishRequest());
    node.nodeUnpublishVolume(unpublishRequest());

    assertThat(mounter.calls()).containsExactly("overlay-ro " + target, "unmount " + target);
    assertThat(target).doesNotExist();
  }

  @Test
  void unpublishOfUnknownVolumeSucceeds() {
    node.nodeUnpublishVolume(
        NodeUnpublishVolumeRequest.newBuilder()
            .setVolumeId("never-published")
            .setTargetPath(tmp.resolve("nowhere").toString())
            .build());

    assertThat(mounter.calls()).isEmpty();
  }

  @Test
  void failedMountLeavesNoStateNorUpperLayer() throws IOException {
    mounter.failNextMount(new IOException("mount: wrong fs type"));

    assertThatThrownBy(() -> node.nodePublishVolume(publishRequest(false)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
              assertThat(e.getStatus().getDescription())
                  .isEqualTo(
                      "mounting volume "
                          + VOLUME
                          + " at "
                          + target
                          + " failed: mount: wrong fs type");
            });
    assertThat(states.load(VOLUME)).isEmpty();
    assertThat(states.volumeDir(VOLUME)).doesNotExist();
    assertThat(target).doesNotExist();

    node.nodePublishVolume(publishRequest(false));
    assertThat(mounter.mounted()).containsOnlyKeys(target);
  }

  @Test
  void concurrentCallOnTheSameVolumeIsAborted() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch proceed = new CountDownLatch(1);
    VolumeAssembler blocking =
        new VolumeAssembler() {
          @Override
          public List<Path> assemble(AssemblyRequest request)
              throws ImageNotFoundException, IOException {
            entered.countDown();
            try {
              proceed.await();
            } catch (InterruptedException e) {
              throw new IOException(e);
            }
            return images.assemble(request);
          }

          @Override
          public void release(String volumeId) {}
        };
    restart(blocking);
    CompletableFuture<?> first =
        CompletableFuture.runAsync(() -> node.nodePublishVolume(publishRequest(true)));
    await().atMost(Duration.ofSeconds(10)).until(() -> entered.getCount() == 0);

    for (Runnable second :
        List.<Runnable>of(
            () -> node.nodePublishVolume(publishRequest(true)),
            () -> node.nodeUnpublishVolume(unpublishRequest()))) {
      assertThatThrownBy(second::run)
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
                assertThat(e.getStatus().getDescription())
                    .isEqualTo("an operation on volume " + VOLUME + " is already in progress");
              });
    }
    // Another volume is not held up by the first one's lock.
    node.nodeUnpublishVolume(
        NodeUnpublishVolumeRequest.newBuilder()
            .setVolumeId("another")
            .setTargetPath(tmp.resolve("another").toString())
            .build());

    proceed.countDown();
    first.get(10, TimeUnit.SECONDS);
    assertThat(mounter.mounted()).containsOnlyKeys(target);
    node.nodePublishVolume(publishRequest(true));
  }

  @Test
  void stateSurvivesANewNodeServiceInstance() throws Exception {
    node.nodePublishVolume(publishRequest(false));
    Path upper = states.upperDir(VOLUME);
    Files.writeString(upper.resolve("written-by-pod"), "data");

    // A restarted plugin: new service and state store over the same folder; mounts stay.
    VolumeStateStore reopened = new VolumeStateStore(tmp.resolve("state"));
    NodeService restarted = new NodeService("node-1", images, mounter, reopened);
    assertThat(restarted.publishedVolumes())
        .singleElement()
        .satisfies(
            s -> {
              assertThat(s.volumeId()).isEqualTo(VOLUME);
              assertThat(s.targetPath()).isEqualTo(target);
              assertThat(s.layers()).isEqualTo(layers);
              assertThat(s.upperDir()).isEqualTo(upper);
            });
    restart(restarted);

    node.nodePublishVolume(publishRequest(false));
    node.nodeUnpublishVolume(unpublishRequest());

    assertThat(mounter.calls()).containsExactly("overlay-rw " + target, "unmount " + target);
    assertThat(upper).doesNotExist();
    assertThat(reopened.loadAll()).isEmpty();
  }

  @Test
  void assemblerGetsThePodAndSecretsAndReleaseFollowsTheUnmount() throws Exception {
    List<String> released = new CopyOnWriteArrayList<>();
    AtomicReference<AssemblyRequest> asked = new AtomicReference<>();
    restart(
        new VolumeAssembler() {
          @Override
          public List<Path> assemble(AssemblyRequest request)
              throws ImageNotFoundException, IOException {
            asked.set(request);
            return images.assemble(request);
          }

          @Override
          public void release(String volumeId) {
            released.add(volumeId + (mounter.isMountPoint(target) ? " while mounted" : ""));
          }
        });

    node.nodePublishVolume(publishRequest(true));
    assertThat(asked.get().pod()).isEqualTo(new PodInfo("web-0", "shop", "pod-uid-1", "web"));
    assertThat(asked.get().image()).isEqualTo(IMAGE);
    assertThat(asked.get().readOnly()).isTrue();
    assertThat(asked.get().secrets())
        .containsExactly(Map.entry(DockerConfig.SECRET_KEY, PULL_SECRET));
    assertThat(asked.get().toString()).doesNotContain("dGVhbTpzM2NyM3Q");
    assertThat(released).isEmpty();
    node.nodeUnpublishVolume(unpublishRequest());

    assertThat(released).containsExactly(VOLUME);
  }

  private void restart(VolumeAssembler assembler) throws Exception {
    restart(new NodeService("node-1", assembler, mounter, states));
  }

  private void restart(NodeService service) throws InterruptedException, IOException {
    tearDown();
    serve(service);
  }

  private void serve(NodeService service) throws IOException {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(ServerInterceptors.intercept(service, new CallLogger()))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).build();
    node = NodeGrpc.newBlockingStub(channel);
  }

  private NodePublishVolumeRequest publishRequest(boolean readOnly) {
    return NodePublishVolumeRequest.newBuilder()
        .setVolumeId(VOLUME)
        .setTargetPath(target.toString())
        .setReadonly(readOnly)
        .setVolumeCapability(capability(AccessMode.Mode.SINGLE_NODE_WRITER))
        .putAllVolumeContext(
            Map.of(
                "image",
                IMAGE,
                NodeService.EPHEMERAL_KEY,
                "true",
                PodInfo.NAME,
                "web-0",
                PodInfo.NAMESPACE,
                "shop",
                PodInfo.UID,
                "pod-uid-1",
                PodInfo.SERVICE_ACCOUNT,
                "web"))
        .putSecrets(DockerConfig.SECRET_KEY, PULL_SECRET)
        .build();
  }

  private NodeUnpublishVolumeRequest unpublishRequest() {
    return NodeUnpublishVolumeRequest.newBuilder()
        .setVolumeId(VOLUME)
        .setTargetPath(target.toString())
        .build();
  }

  private static VolumeCapability capability(AccessMode.Mode mode) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.getDefaultInstance())
        .setAccessMode(AccessMode.newBuilder().setMode(mode))
        .build();
  }

  private Path layer(String image, int index) throws IOException {
    return Files.createDirectories(images.imageDirectory(image).resolve(Integer.toString(index)));
  }

  private static Arguments error(
      String name,
      UnaryOperator<NodePublishVolumeRequest.Builder> change,
      Status.Code code,
      String message) {
    return Arguments.of(Named.of(name, change), code, message);
  }
}
