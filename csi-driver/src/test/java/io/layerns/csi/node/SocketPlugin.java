package io.layerns.csi.node;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.layerns.csi.CsiServer;
import io.layerns.csi.GrpcChannels;
import io.layerns.csi.RealMounts;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One node plugin in no namespace on its Unix socket (NodeService with the store-backed assembler,
 * real overlay mounts), whose registry client lets in the addresses {@code allowed} says; published
 * as the kubelet does, over gRPC.
 */
final class SocketPlugin implements AutoCloseable {
  private final Path base;
  private final LocalLayerStore store;
  private final CsiServer server;
  private final GrpcChannels client;
  private final NodeGrpc.NodeBlockingStub node;

  private SocketPlugin(Path base, LocalLayerStore store, CsiServer server, GrpcChannels client) {
    this.base = base;
    this.store = store;
    this.server = server;
    this.client = client;
    this.node = NodeGrpc.newBlockingStub(client.channel());
  }

  static SocketPlugin start(Path base, RegistryAddresses allowed) throws IOException {
    RealMounts.assumeRoot();
    LocalLayerStore store = LocalLayerStore.open(base.resolve("plugin/store"));
    ImageImporter importer =
        new ImageImporter(store, new RegistryClient(Set.of(), allowed), Platform.LINUX_AMD64);
    Path state = base.resolve("plugin/state");
    StoreVolumeAssembler assembler =
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
            base.resolve("plugin/csi"));
    NodeService service =
        new NodeService(
            "node-1",
            assembler,
            new CommandMounter(state.resolve("scratch")),
            new VolumeStateStore(state));
    CsiServer server = CsiServer.start(base.resolve("plugin/csi.sock"), List.of(service));
    return new SocketPlugin(base, store, server, new GrpcChannels(base.resolve("plugin/csi.sock")));
  }

  /** The plugin's Node service, as the kubelet calls it. */
  NodeGrpc.NodeBlockingStub node() {
    return node;
  }

  /** Publishes a read-only volume of {@code image}; returns its target, where the image shows. */
  Path publish(String volumeId, String image) throws IOException {
    Path target = base.resolve("kubelet/pods/" + volumeId + "/volumes/kubernetes.io~csi/app/mount");
    Files.createDirectories(target.getParent());
    node.nodePublishVolume(
        NodePublishVolumeRequest.newBuilder()
            .setVolumeId(volumeId)
            .setTargetPath(target.toString())
            .setReadonly(true)
            .setVolumeCapability(
                VolumeCapability.newBuilder()
                    .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                    .setAccessMode(
                        AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_READER_ONLY)))
            .putVolumeContext("image", image)
            .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
            .putVolumeContext(PodInfo.NAME, volumeId)
            .putVolumeContext(PodInfo.NAMESPACE, "shop")
            .build());
    return target;
  }

  void unpublish(String volumeId, Path target) {
    node.nodeUnpublishVolume(
        NodeUnpublishVolumeRequest.newBuilder()
            .setVolumeId(volumeId)
            .setTargetPath(target.toString())
            .build());
  }

  LocalLayerStore store() {
    return store;
  }

  @Override
  public void close() throws Exception {
    RealMounts.unmountAllUnder(base.resolve("kubelet"));
    client.close();
    server.close();
    store.close();
  }
}
