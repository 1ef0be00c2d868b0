package io.layerns.system;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.layerns.api.events.EventRecorder;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.CsiServer;
import io.layerns.csi.agent.VolumeUsages;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.node.KubernetesClusterView;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.PodInfo;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.CommandRemoteMounter;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.SshfsTransport;
import io.layerns.testing.ControlPlane;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * One simulated node for the kubelet-like ITs: a node agent with its store and its HTTP and SFTP
 * exports, and the CSI node plugin (the store-backed assembler behind the Node service) served on a
 * Unix socket, which the test calls the way the kubelet does.
 */
public final class PublishNode implements AutoCloseable {

  /** The kubelet's volume plugin folder name for CSI volumes. */
  private static final String CSI_PLUGIN_DIR = "kubernetes.io~csi";

  public final String name;
  public final String address;
  public final InProcessAgent agent;
  public final ImageImporter importer;
  public final StoreVolumeAssembler assembler;
  public final NodeService node;
  public final Path kubeletDir;
  public final Path pluginState;
  private final CsiServer server;
  private final EventLoopGroup group;
  private final ManagedChannel channel;
  private final NodeGrpc.NodeBlockingStub csi;

  private PublishNode(
      String name,
      String address,
      InProcessAgent agent,
      ImageImporter importer,
      StoreVolumeAssembler assembler,
      NodeService node,
      Path kubeletDir,
      Path pluginState,
      CsiServer server) {
    this.name = name;
    this.address = address;
    this.agent = agent;
    this.importer = importer;
    this.assembler = assembler;
    this.node = node;
    this.kubeletDir = kubeletDir;
    this.pluginState = pluginState;
    this.server = server;
    this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    this.channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(server.socket().toFile()))
            .channelType(EpollDomainSocketChannel.class)
            .eventLoopGroup(group)
            .usePlaintext()
            .build();
    this.csi = NodeGrpc.newBlockingStub(channel);
  }

  /**
   * Starts the node on {@code address} with its folders under {@code dir}.
   *
   * @param clientKey the cluster's private key, which this node's sshfs logs in to peers with
   * @param authorizedKeys the matching public key, which this node's SFTP export accepts
   */
  public static PublishNode start(
      ControlPlane cp, String name, String address, Path dir, Path clientKey, Path authorizedKeys)
      throws IOException {
    AtomicReference<Supplier<List<PublishedVolume>>> volumes = new AtomicReference<>(List::of);
    InProcessAgent agent =
        InProcessAgent.startWithSftp(
            cp, name, address, dir.resolve("store"), authorizedKeys, () -> volumes.get().get());
    InetAddress local = InetAddress.getByName(address);
    // Registry requests leave from the node's own address, so the registry's log says who asked.
    RegistryClient registry =
        new RegistryClient(
            HttpClient.newBuilder()
                .localAddress(local)
                .connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER)
                .build(),
            Set.of(),
            Duration.ofSeconds(30));
    ImageImporter importer = new ImageImporter(agent.store(), registry, Platform.LINUX_AMD64);
    Path pluginState = Files.createDirectories(dir.resolve("csi"));
    RemoteLayerMounts sshfs =
        RemoteLayerMounts.open(
            pluginState.resolve("remote"),
            new SshfsTransport("layerns", clientKey, pluginState.resolve("known_hosts"), local),
            new CommandRemoteMounter(Duration.ofSeconds(5)));
    StoreVolumeAssembler assembler =
        new StoreVolumeAssembler(
            name,
            importer,
            new PeerFetcher(importer, PeerFetcher.httpClient(local), Duration.ofSeconds(30)),
            new KubernetesClusterView(cp.newAdminClient(), name),
            Map.of(Transport.Sshfs, sshfs),
            pluginState);
    NodeService node =
        new NodeService(
            name,
            assembler,
            new CommandMounter(pluginState.resolve("scratch")),
            new VolumeStateStore(pluginState));
    assembler.adopt(node.publishedVolumes());
    volumes.set(() -> VolumeUsages.of(node, assembler));
    node.onVolumesChanged(agent.agent()::trigger);
    agent
        .agent()
        .watchRemoteMounts(
            sshfs::health,
            Duration.ofSeconds(1),
            new EventRecorder(
                cp.newAdminClient(), java.time.Clock.systemUTC(), EventRecorder.NODE_PLUGIN, name));
    CsiServer server = CsiServer.start(dir.resolve("csi.sock"), List.of(node));
    return new PublishNode(
        name,
        address,
        agent,
        importer,
        assembler,
        node,
        Files.createDirectories(dir.resolve("kubelet")),
        pluginState,
        server);
  }

  /** A volume as the kubelet names it: volume id and the target path in the pod's folder. */
  public record Volume(String volumeId, Path target, String podUid) {}

  /**
   * Calls NodePublishVolume as the kubelet does for a CSI inline volume of pod {@code pod} in
   * namespace {@code default}: the kubelet makes the volume's folder, the plugin the mount point.
   */
  public Volume publish(String image, String pod, boolean readOnly) throws IOException {
    String uid = UUID.randomUUID().toString();
    // The kubelet's id for an inline volume: "csi-" and a hash of pod uid and volume name.
    String volumeId =
        "csi-" + UUID.nameUUIDFromBytes((uid + "/app").getBytes()).toString().replace("-", "");
    Path volumeDir = kubeletDir.resolve("pods/" + uid + "/volumes/" + CSI_PLUGIN_DIR + "/app");
    Files.createDirectories(volumeDir);
    Path target = volumeDir.resolve("mount");
    csi.withDeadlineAfter(2, TimeUnit.MINUTES)
        .nodePublishVolume(
            NodePublishVolumeRequest.newBuilder()
                .setVolumeId(volumeId)
                .setTargetPath(target.toString())
                .setReadonly(readOnly)
                .setVolumeCapability(
                    VolumeCapability.newBuilder()
                        .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                        .setAccessMode(
                            AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)))
                .putVolumeContext(NodeService.IMAGE_KEY, image)
                .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
                .putVolumeContext(PodInfo.NAME, pod)
                .putVolumeContext(PodInfo.NAMESPACE, "default")
                .putVolumeContext(PodInfo.UID, uid)
                .putVolumeContext(PodInfo.SERVICE_ACCOUNT, "default")
                .build());
    return new Volume(volumeId, target, uid);
  }

  /** Calls NodeUnpublishVolume as the kubelet does when the pod goes. */
  public void unpublish(Volume v) {
    csi.withDeadlineAfter(2, TimeUnit.MINUTES)
        .nodeUnpublishVolume(
            NodeUnpublishVolumeRequest.newBuilder()
                .setVolumeId(v.volumeId())
                .setTargetPath(v.target().toString())
                .build());
  }

  @Override
  public void close() throws IOException {
    channel.shutdownNow();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    server.close();
    agent.close();
  }
}
