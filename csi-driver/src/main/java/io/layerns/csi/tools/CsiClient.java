package io.layerns.csi.tools;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.PodInfo;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Calls a node plugin the way the kubelet does for a pod's CSI inline volume, from a shell: for
 * trying the plugin on a node, and for {@code make demo}.
 *
 * <pre>
 * CsiClient publish --endpoint=/path/csi.sock --volume-id=ID --target=DIR --image=REF [--writable]
 *                   [--pod=namespace/name]
 * CsiClient unpublish --endpoint=/path/csi.sock --volume-id=ID --target=DIR
 * </pre>
 */
public final class CsiClient {
  private CsiClient() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length == 0) {
      usage("missing command");
    }
    Map<String, String> a = new HashMap<>();
    for (int i = 1; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        usage("unexpected argument " + arg);
      }
      int eq = arg.indexOf('=');
      a.put(
          eq < 0 ? arg.substring(2) : arg.substring(2, eq),
          eq < 0 ? "true" : arg.substring(eq + 1));
    }
    String endpoint = required(a, "endpoint").replaceFirst("^unix://", "");
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    ManagedChannel channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(endpoint))
            .channelType(EpollDomainSocketChannel.class)
            .eventLoopGroup(group)
            .usePlaintext()
            .build();
    try {
      var node = NodeGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
      switch (args[0]) {
        case "publish" -> {
          boolean writable = Boolean.parseBoolean(a.getOrDefault("writable", "false"));
          String[] pod = a.getOrDefault("pod", "default/layerns-cli").split("/", 2);
          node.nodePublishVolume(
              NodePublishVolumeRequest.newBuilder()
                  .setVolumeId(required(a, "volume-id"))
                  .setTargetPath(required(a, "target"))
                  .setReadonly(!writable)
                  .setVolumeCapability(
                      VolumeCapability.newBuilder()
                          .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                          .setAccessMode(
                              AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)))
                  .putAllVolumeContext(
                      Map.of(
                          "image",
                          required(a, "image"),
                          NodeService.EPHEMERAL_KEY,
                          "true",
                          PodInfo.NAMESPACE,
                          pod[0],
                          PodInfo.NAME,
                          pod[1],
                          PodInfo.UID,
                          "cli-" + required(a, "volume-id"),
                          PodInfo.SERVICE_ACCOUNT,
                          "default"))
                  .build());
          System.out.println("published " + a.get("image") + " at " + a.get("target"));
        }
        case "unpublish" -> {
          node.nodeUnpublishVolume(
              NodeUnpublishVolumeRequest.newBuilder()
                  .setVolumeId(required(a, "volume-id"))
                  .setTargetPath(required(a, "target"))
                  .build());
          System.out.println("unpublished " + a.get("target"));
        }
        default -> usage("unknown command " + args[0]);
      }
    } catch (StatusRuntimeException e) {
      System.err.println(
          args[0] + " failed: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
      System.exit(1);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }

  private static String required(Map<String, String> args, String name) {
    String value = args.get(name);
    if (value == null || value.isBlank()) {
      usage("--" + name + " is required");
    }
    return value;
  }

  private static void usage(String problem) {
    System.err.println(problem);
    System.err.println(
        "usage: CsiClient publish --endpoint=SOCKET --volume-id=ID --target=DIR --image=REF"
            + " [--writable] [--pod=NAMESPACE/NAME]\n"
            + "       CsiClient unpublish --endpoint=SOCKET --volume-id=ID --target=DIR");
    System.exit(2);
  }
}
