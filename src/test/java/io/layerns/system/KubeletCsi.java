package io.layerns.system;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.ProbeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.IdentityGrpc;
import csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.PodInfo;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Calls a CSI node plugin on its Unix socket the way the kubelet does for a pod's CSI inline
 * volume: the kubelet makes the volume's folder under its pods folder, the plugin the mount point.
 */
final class KubeletCsi implements AutoCloseable {

  /** The kubelet's volume plugin folder name for CSI volumes. */
  private static final String CSI_PLUGIN_DIR = "kubernetes.io~csi";

  private final Path kubeletDir;
  private final EventLoopGroup group;
  private final ManagedChannel channel;

  /**
   * @param socket the plugin's CSI socket
   * @param kubeletDir the node's kubelet folder, where pods' volume folders go
   */
  KubeletCsi(Path socket, Path kubeletDir) {
    this.kubeletDir = kubeletDir;
    this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    this.channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
            .channelType(EpollDomainSocketChannel.class)
            .eventLoopGroup(group)
            .usePlaintext()
            .build();
  }

  /** Whether the plugin answers Probe as ready. */
  boolean probe() {
    return IdentityGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .probe(ProbeRequest.getDefaultInstance())
        .getReady()
        .getValue();
  }

  /**
   * Calls NodePublishVolume for an inline volume of pod {@code pod} in namespace {@code default}.
   */
  PublishNode.Volume publish(String image, String pod, boolean readOnly) throws IOException {
    return publish(image, pod, readOnly, java.util.Map.of());
  }

  /**
   * As {@link #publish(String, String, boolean)}, with the volume's secrets: the data of the Secret
   * its {@code nodePublishSecretRef} names, which the kubelet reads and passes decoded.
   */
  PublishNode.Volume publish(
      String image, String pod, boolean readOnly, java.util.Map<String, String> secrets)
      throws IOException {
    String uid = UUID.randomUUID().toString();
    // The kubelet's id for an inline volume: "csi-" and a hash of pod uid and volume name.
    String volumeId =
        "csi-" + UUID.nameUUIDFromBytes((uid + "/app").getBytes()).toString().replace("-", "");
    Path volumeDir = kubeletDir.resolve("pods/" + uid + "/volumes/" + CSI_PLUGIN_DIR + "/app");
    Files.createDirectories(volumeDir);
    Path target = volumeDir.resolve("mount");
    NodeGrpc.newBlockingStub(channel)
        .withDeadlineAfter(2, TimeUnit.MINUTES)
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
                .putAllSecrets(secrets)
                .build());
    return new PublishNode.Volume(volumeId, target, uid);
  }

  /** Calls NodeUnpublishVolume as the kubelet does when the pod goes. */
  void unpublish(PublishNode.Volume v) {
    NodeGrpc.newBlockingStub(channel)
        .withDeadlineAfter(2, TimeUnit.MINUTES)
        .nodeUnpublishVolume(
            NodeUnpublishVolumeRequest.newBuilder()
                .setVolumeId(v.volumeId())
                .setTargetPath(v.target().toString())
                .build());
  }

  @Override
  public void close() {
    channel.shutdownNow();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
