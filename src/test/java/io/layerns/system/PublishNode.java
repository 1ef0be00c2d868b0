package io.layerns.system;

import io.layerns.api.events.EventRecorder;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.CsiServer;
import io.layerns.csi.agent.DeadMountRepair;
import io.layerns.csi.agent.VolumeUsages;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.node.KubernetesClusterView;
import io.layerns.csi.node.MemberExportKeys;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.CommandRemoteMounter;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.SshfsTransport;
import io.layerns.testing.ControlPlane;
import java.io.IOException;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * One simulated node for the kubelet-like ITs: a node agent with its store and its HTTP and SFTP
 * exports, and the CSI node plugin (the store-backed assembler behind the Node service) served on a
 * Unix socket, which the test calls the way the kubelet does.
 */
public final class PublishNode implements AutoCloseable {

  public final String name;
  public final String address;
  public final InProcessAgent agent;
  public final ImageImporter importer;
  public final StoreVolumeAssembler assembler;
  public final NodeService node;
  public final Path kubeletDir;
  public final Path pluginState;
  private final CsiServer server;
  private final KubeletCsi csi;

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
    this.csi = new KubeletCsi(server.socket(), kubeletDir);
  }

  /**
   * Starts the node on {@code address} with its folders under {@code dir}. Its sshfs logs in to
   * peers with the node's own key, which peers accept while it is a member; its Node must list
   * {@code address} for peers to let it in.
   */
  public static PublishNode start(ControlPlane cp, String name, String address, Path dir)
      throws IOException {
    AtomicReference<Supplier<List<PublishedVolume>>> volumes = new AtomicReference<>(List::of);
    InProcessAgent agent =
        InProcessAgent.startWithSftp(
            cp, name, address, dir.resolve("store"), () -> volumes.get().get());
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
            // The test registry is on loopback, which the plugin refuses unless allowed.
            RegistryAddresses.parse("127.0.0.0/8"),
            Duration.ofSeconds(30));
    ImageImporter importer = new ImageImporter(agent.store(), registry, Platform.LINUX_AMD64);
    Path pluginState = Files.createDirectories(dir.resolve("csi"));
    RemoteLayerMounts sshfs =
        RemoteLayerMounts.open(
            pluginState.resolve("remote"),
            new SshfsTransport(
                "layerns", agent.nodeKey().file(), pluginState.resolve("known_hosts"), local),
            new CommandRemoteMounter(Duration.ofSeconds(5)));
    KubernetesClusterView cluster = new KubernetesClusterView(cp.newAdminClient(), name);
    StoreVolumeAssembler assembler =
        new StoreVolumeAssembler(
            name,
            importer,
            new PeerFetcher(
                importer,
                PeerFetcher.httpClient(
                    local, agent.nodeKey().keyPair(), new MemberExportKeys(cluster)),
                Duration.ofSeconds(30)),
            cluster,
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
            new DeadMountRepair(sshfs, Transport.Sshfs, cluster, node),
            Duration.ofSeconds(1),
            new EventRecorder(
                cp.newAdminClient(), java.time.Clock.systemUTC(), EventRecorder.NODE_PLUGIN, name));
    // As CsiPluginMain does: the first mount check may run before the LayerStore is loaded.
    agent.agent().start();
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

  /** Calls NodePublishVolume as the kubelet does for a CSI inline volume of pod {@code pod}. */
  public Volume publish(String image, String pod, boolean readOnly) throws IOException {
    return csi.publish(image, pod, readOnly);
  }

  /** As {@link #publish(String, String, boolean)}, with the volume's secrets, decoded. */
  public Volume publish(String image, String pod, boolean readOnly, Map<String, String> secrets)
      throws IOException {
    return csi.publish(image, pod, readOnly, secrets);
  }

  /** Calls NodeUnpublishVolume as the kubelet does when the pod goes. */
  public void unpublish(Volume v) {
    csi.unpublish(v);
  }

  @Override
  public void close() throws IOException {
    csi.close();
    server.close();
    agent.close();
  }
}
