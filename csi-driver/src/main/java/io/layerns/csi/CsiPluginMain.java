package io.layerns.csi;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.layerns.api.events.EventRecorder;
import io.layerns.api.health.ProbeServer;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.agent.DeadMountRepair;
import io.layerns.csi.agent.ExportMembership;
import io.layerns.csi.agent.NfsPublicLayers;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.agent.RegistryPreloader;
import io.layerns.csi.agent.VolumeUsages;
import io.layerns.csi.cold.ColdBuckets;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.nfs.GaneshaConfig;
import io.layerns.csi.export.nfs.NfsExport;
import io.layerns.csi.export.sftp.SftpExportConfig;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.identity.IdentityService;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.node.KubernetesClusterView;
import io.layerns.csi.node.LocalDirectoryAssembler;
import io.layerns.csi.node.MemberExportKeys;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeState;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registration.RegistrationService;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryHosts;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.CommandRemoteMounter;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.SshfsTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the CSI node plugin: Identity and Node on the CSI socket, registration for the kubelet.
 */
public final class CsiPluginMain {

  private static final Logger LOG = LoggerFactory.getLogger(CsiPluginMain.class);

  /** Where the NFS export shows the layer directories in the server's pseudo file system. */
  static final String NFS_PSEUDO_PATH = "/layerns";

  /**
   * How often the exports' client lists are set to the namespace's member nodes again, besides each
   * change the LayerStore watch sees (a safety net for a missed event).
   */
  static final Duration MEMBERSHIP_PERIOD = Duration.ofSeconds(30);

  /** How often the NFS export's layers follow the store (new public layers, marks). */
  static final Duration NFS_LAYERS_PERIOD = Duration.ofSeconds(5);

  private CsiPluginMain() {}

  public static void main(String[] args) throws Exception {
    PluginConfig config = PluginConfig.parse(args, System.getenv());
    AtomicBoolean ready = new AtomicBoolean();
    // The liveness probe's answer: the first of these checks that finds a problem, else "ok".
    List<Supplier<String>> problems = new CopyOnWriteArrayList<>();
    problems.add(() -> ready.get() ? null : "starting");
    NodeMetrics metrics = NodeMetrics.prometheus();
    ProbeServer health =
        ProbeServer.start(
            new InetSocketAddress(
                InetAddress.getByName(config.exportAddress()), config.healthPort()),
            Map.of(
                "/healthz",
                () -> ProbeServer.Answer.okUnless(firstProblem(problems)),
                "/metrics",
                () -> new ProbeServer.Answer(200, metrics.scrape())));
    LOG.info("health on http://{}:{}/healthz", config.exportAddress(), health.port());
    try {
      serve(config, ready, problems, health, metrics);
    } catch (Exception | Error e) {
      // The probe server's thread would keep a plugin that failed to start alive.
      health.close();
      throw e;
    }
  }

  private static void serve(
      PluginConfig config,
      AtomicBoolean ready,
      List<Supplier<String>> problems,
      ProbeServer health,
      NodeMetrics metrics)
      throws Exception {
    VolumeStateStore states = VolumeStateStore.open(config.stateDir());
    // With the node agent (every real node), images come from the global namespace; without it
    // (a plugin tried alone), from pre-unpacked folders.
    NodeService node =
        config.runAgent()
            ? startNodeAgent(config, states, problems, metrics)
            : new NodeService(
                config.nodeName(),
                new LocalDirectoryAssembler(config.imageDir()),
                new CommandMounter(config.stateDir().resolve("scratch")),
                states);
    node.recordTo(metrics);
    List<VolumeState> kept = node.publishedVolumes();
    LOG.info("{} volumes still mounted from before this start", kept.size());

    List<CsiServer> servers = new ArrayList<>();
    servers.add(
        CsiServer.start(
            config.csiEndpoint(),
            List.of(new IdentityService(IdentityService.jarVersion(), ready::get), node)));
    if (config.registrationDir().isPresent()) {
      servers.add(
          CsiServer.start(
              RegistrationService.socketIn(
                  config.registrationDir().get(), IdentityService.DRIVER_NAME),
              List.of(
                  new RegistrationService(IdentityService.DRIVER_NAME, config.kubeletEndpoint()))));
    }
    for (CsiServer s : servers) {
      problems.add(s::notServingReason);
    }
    ready.set(true);

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  // Mounts stay: pods keep using them while the plugin restarts.
                  for (CsiServer s : servers.reversed()) {
                    try {
                      s.close();
                    } catch (Exception e) {
                      LOG.warn("closing {}: {}", s.socket(), e.toString());
                    }
                  }
                  health.close();
                  stopped.countDown();
                },
                "shutdown"));
    stopped.await();
  }

  private static String firstProblem(List<Supplier<String>> problems) {
    return problems.stream().map(Supplier::get).filter(p -> p != null).findFirst().orElse(null);
  }

  /**
   * The node agent beside the CSI services: the store, its three exports, the spec loop, and the
   * Node service that publishes volumes from the store, peers and registries. The agent's health
   * joins {@code problems}.
   */
  private static NodeService startNodeAgent(
      PluginConfig config,
      VolumeStateStore states,
      List<Supplier<String>> problems,
      NodeMetrics metrics)
      throws IOException {
    LocalLayerStore store = LocalLayerStore.open(config.storeRoot());
    metrics.watchStore(store);
    InetAddress address = InetAddress.getByName(config.exportAddress());
    // Who this node is to its peers: its SFTP host key, its HTTP export's TLS key, and the key it
    // logs in to them and connects to their exports with.
    NodeKey nodeKey = NodeKey.loadOrCreate(config.stateDir().resolve(NodeKey.FILE_NAME));
    HttpExportServer export =
        HttpExportServer.start(
            store,
            new InetSocketAddress(address, config.httpExportPort()),
            Set.of(),
            nodeKey.keyPair());
    if (!address.isAnyLocalAddress()) {
      // Closed until the membership watch below lets the members in: starting up (SFTP, ganesha,
      // the first API reads) takes seconds, and the export must not serve anyone meanwhile.
      export.allowClients(Set.of(address));
      export.allowKeys(Set.of(nodeKey.keyPair().getPublic()));
    }
    export.recordTo(metrics);
    String host = export.baseUri().getHost();
    String sftp = null;
    SftpExportServer sftpServer = null;
    if (config.sftpExportPort() >= 0) {
      SftpExportServer server =
          SftpExportServer.start(
              config.storeRoot().resolve("layers"),
              new SftpExportConfig(
                  config.exportAddress(),
                  config.sftpExportPort(),
                  nodeKey.file(),
                  Set.of(), // members' keys come with the membership below
                  SftpExportConfig.DEFAULT_USER,
                  Optional.empty()));
      server.recordTo(metrics);
      sftp = host + ":" + server.address().getPort();
      sftpServer = server;
    }
    // Published whether or not this node exports over SFTP: peers pin it on its HTTP export, and
    // accept it when this node mounts or fetches theirs.
    String sftpHostKey = nodeKey.publicKeyLine();
    String nfs = null;
    NfsExport nfsExport = null;
    if (!config.nfsClients().isEmpty()) {
      nfsExport =
          NfsExport.start(
              new GaneshaConfig(
                  config.storeRoot().resolve("layers").toRealPath(),
                  NFS_PSEUDO_PATH,
                  config.exportAddress(),
                  config.nfsExportPort(),
                  config.nfsClients(),
                  config.stateDir().resolve("ganesha")));
      nfs = host + ":" + NFS_PSEUDO_PATH;
      // nfs-ganesha is this process's child and goes with it, as it would with the container;
      // after a kill -9 the next start stops the leftover (its pid file).
      Runtime.getRuntime().addShutdownHook(new Thread(nfsExport::close, "stop-nfs-ganesha"));
    }

    RegistryHosts registryHosts = RegistryHosts.load(config.registryHostsDir());
    RegistryClient registry = new RegistryClient(registryHosts, config.registryAllowedNetworks());
    LOG.info(
        "registry requests to loopback, link-local and unspecified addresses: refused, but for {}",
        config.registryAllowedNetworks());
    ImageImporter importer = new ImageImporter(store, registry, Platform.ofThisMachine());
    importer.recordTo(metrics);
    KubernetesClient client = new KubernetesClientBuilder().build();
    KubernetesClusterView cluster = new KubernetesClusterView(client, config.nodeName());
    PeerFetcher peers =
        new PeerFetcher(
            importer,
            PeerFetcher.httpClient(address, nodeKey.keyPair(), new MemberExportKeys(cluster)),
            Duration.ofMinutes(2));
    io.layerns.csi.mirror.MirrorServer mirror = null;
    if (config.mirror().address().isPresent()) {
      // containerd's mirror on this node: lives as long as the plugin.
      mirror = io.layerns.csi.mirror.MirrorServer.start(config.mirror(), importer, peers, cluster);
      mirror.recordTo(metrics);
    }
    if (nfsExport != null) {
      // Public layers only: NFS believes the uid a client claims. Exported before the plugin
      // reports its endpoints, then kept up to date; lives as long as the plugin.
      NfsPublicLayers nfsLayers = new NfsPublicLayers(store, cluster, nfsExport);
      nfsLayers.refresh();
      nfsLayers.start(NFS_LAYERS_PERIOD);
    }
    if (address.isAnyLocalAddress()) {
      LOG.warn(
          "exports listen on every address: any client that reaches them may read the layers;"
              + " set NODE_IP so that only the namespace's member nodes are let in");
    } else {
      // Member addresses from their Node objects, member keys from their LayerStores, both
      // watched; the handle lives as long as the plugin.
      ExportMembership.startWatched(
          client,
          cluster,
          address,
          Optional.of(nodeKey.keyPair().getPublic()),
          export,
          Optional.ofNullable(sftpServer),
          Optional.ofNullable(nfsExport),
          config.nfsClients(),
          MEMBERSHIP_PERIOD);
    }
    RemoteLayerMounts sshfs =
        RemoteLayerMounts.open(
            config.stateDir().resolve("remote"),
            new SshfsTransport(
                SftpExportConfig.DEFAULT_USER,
                nodeKey.file(),
                config.stateDir().resolve("known_hosts"),
                address),
            new CommandRemoteMounter(Duration.ofSeconds(5), fuseDaemonCgroup(config)));
    StoreVolumeAssembler assembler =
        new StoreVolumeAssembler(
            config.nodeName(),
            importer,
            peers,
            cluster,
            Map.of(Transport.Sshfs, sshfs),
            config.stateDir());
    NodeService node =
        new NodeService(
            config.nodeName(),
            assembler,
            new CommandMounter(config.stateDir().resolve("scratch")),
            states);
    assembler.adopt(node.publishedVolumes());
    // The cold tier's credentials: a Secret in the plugin's own namespace (its service account's).
    ColdBuckets cold = ColdBuckets.of(client, pluginNamespace(client));
    assembler.useColdTier(cold);

    long capacity =
        config.capacityBytes() > 0
            ? config.capacityBytes()
            : Files.getFileStore(config.storeRoot()).getUsableSpace() + store.usedBytes();
    NodeAgent agent =
        new NodeAgent(
            client,
            config.nodeName(),
            store,
            new PeerLayerFetcher(peers, registry, cold),
            () -> VolumeUsages.of(node, assembler),
            new StoreEndpoints(export.baseUri().toString(), sftp, sftpHostKey, nfs),
            capacity,
            Duration.ofMinutes(1),
            new RegistryPreloader(importer, store),
            Clock.systemUTC());
    agent.recordTo(metrics);
    metrics.watchRemoteMounts(() -> sshfs.holders().keySet(), agent::deadRemoteMounts);
    node.onVolumesChanged(agent::trigger);
    if (mirror != null) {
      // A layer the mirror keeps is reported at once, so the operator sees this node hold it.
      mirror.onKept(agent::trigger);
    }
    EventRecorder events =
        new EventRecorder(client, Clock.systemUTC(), EventRecorder.NODE_PLUGIN, config.nodeName());
    agent.watchRemoteMounts(
        sshfs::health,
        new DeadMountRepair(sshfs, Transport.Sshfs, cluster, node),
        config.remoteMountCheck(),
        events);
    agent.scrub(config.scrub(), events);
    agent.keepCold(cold, config.coldScrub(), events);
    writeContainerdHosts(config, registryHosts, mirrorUri(config.mirror()), client, events);
    agent.start();
    problems.add(agent::notRunningReason);
    LOG.info("node agent serving {} on {}", config.storeRoot(), export.baseUri());
    return node;
  }

  /** The namespace the plugin runs in: its service account's, else POD_NAMESPACE, else default. */
  private static String pluginNamespace(KubernetesClient client) {
    String ns = System.getenv("POD_NAMESPACE");
    if (ns != null && !ns.isBlank()) {
      return ns;
    }
    return client.getNamespace() == null ? "default" : client.getNamespace();
  }

  /** How often containerd's host files are checked against the settings after the first write. */
  static final Duration CONTAINERD_HOSTS_PERIOD = Duration.ofMinutes(1);

  /**
   * Points containerd at this node's mirror for each configured registry (containerd reads the
   * files at every pull). With no registry listed, files written before are removed; with the
   * mirror off, too, so containerd does not try a mirror that is not there.
   */
  private static void writeContainerdHosts(
      PluginConfig config,
      RegistryHosts registryHosts,
      Optional<java.net.URI> mirror,
      KubernetesClient client,
      EventRecorder events) {
    var settings = config.containerdHosts();
    if (settings.registries().isEmpty() && !Files.isDirectory(settings.dir())) {
      return; // nothing to write, nothing written before
    }
    if (mirror.isEmpty() && !settings.registries().isEmpty()) {
      LOG.warn(
          "{} lists {} but the mirror is off: containerd host files are not written",
          io.layerns.csi.containerd.ContainerdHosts.Settings.REGISTRIES,
          settings.registries());
    }
    var hosts =
        new io.layerns.csi.containerd.ContainerdHosts(
            settings.dir(),
            mirror.orElse(java.net.URI.create("http://127.0.0.1")),
            registryHosts::host);
    new io.layerns.csi.containerd.ContainerdHostsUpkeep(
            hosts,
            mirror.isPresent() ? settings.registries() : List.of(),
            refusal -> {
              var node = client.nodes().withName(config.nodeName()).get();
              if (node != null) {
                events.warning(node, "ContainerdHostsNotWritten", refusal.reason());
              }
            })
        .start(CONTAINERD_HOSTS_PERIOD);
    LOG.info(
        "containerd host files in {} for {} (mirror {})",
        settings.dir(),
        settings.registries(),
        mirror.map(Object::toString).orElse("off"));
  }

  /**
   * Where containerd reaches this node's mirror, as written in hosts.toml: its address, or loopback
   * when it listens on every address.
   */
  static Optional<java.net.URI> mirrorUri(io.layerns.csi.mirror.MirrorServer.Settings mirror) {
    return mirror
        .address()
        .map(
            a -> {
              InetAddress ip =
                  a.getAddress() == null || a.getAddress().isAnyLocalAddress()
                      ? InetAddress.getLoopbackAddress()
                      : a.getAddress();
              String host = ip.getHostAddress();
              return java.net.URI.create(
                  "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort());
            });
  }

  /** Where sshfs daemons run (see FuseDaemonCgroup): from the config, resolved against our own. */
  private static io.layerns.csi.transport.remote.FuseDaemonCgroup fuseDaemonCgroup(
      PluginConfig config) throws java.io.IOException {
    String self = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/cgroup"));
    return io.layerns.csi.transport.remote.FuseDaemonCgroup.of(
        config.fuseDaemonCgroup(), config.cgroupRoot(), self);
  }
}
