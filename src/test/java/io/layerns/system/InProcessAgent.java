package io.layerns.system;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.agent.ExportMembership;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.agent.RegistryPreloader;
import io.layerns.csi.agent.VolumeUsage;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.sftp.SftpExportConfig;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.node.KubernetesClusterView;
import io.layerns.csi.node.MemberExportKeys;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.testing.ControlPlane;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * A node agent run inside the test JVM: its own store, HTTP export on its own loopback address, and
 * optionally the SFTP export that the Sshfs transport mounts.
 *
 * @param sftp the SFTP export, or null when the node has none
 * @param nodeKey the node's own key, published in its status as the plugin publishes it: its HTTP
 *     export's TLS key and the key it fetches from peers with, and with SFTP the SFTP export's host
 *     key and its sshfs login
 * @param membership the exports' member lists kept as the plugin keeps them (null without SFTP)
 */
public record InProcessAgent(
    String name,
    LocalLayerStore store,
    HttpExportServer export,
    SftpExportServer sftp,
    NodeKey nodeKey,
    AutoCloseable membership,
    NodeAgent agent)
    implements AutoCloseable {

  static InProcessAgent start(ControlPlane cp, String name, String address, Path root)
      throws IOException {
    return start(cp, name, address, root, UnaryOperator.identity());
  }

  /**
   * @param advertise what the node reports as its export (a proxy in front of it, say)
   */
  static InProcessAgent start(
      ControlPlane cp, String name, String address, Path root, UnaryOperator<URI> advertise)
      throws IOException {
    return start(cp, name, address, root, advertise, false, List::of, true);
  }

  /**
   * An agent that also serves its layers over SFTP and reports the volumes {@code volumes} lists,
   * as the node plugin does: with its own node key (published as its host key), and its exports'
   * member lists kept from the Nodes' addresses and the members' published keys. Its watch of its
   * LocalLayerStore is not started: the caller wires the rest first and then starts it, in the
   * plugin's order.
   */
  static InProcessAgent startWithSftp(
      ControlPlane cp, String name, String address, Path root, VolumeUsage volumes)
      throws IOException {
    return start(cp, name, address, root, UnaryOperator.identity(), true, volumes, false);
  }

  /**
   * An agent with the cold tier, as the plugin runs it: fetches from the bucket before the registry
   * and keeps the bucket copies its spec marks, with the credentials Secret read from {@code
   * secretNamespace} and the given scrub settings.
   */
  static InProcessAgent startCold(
      ControlPlane cp,
      String name,
      String address,
      Path root,
      String secretNamespace,
      io.layerns.csi.agent.Scrubber.Settings coldScrub)
      throws IOException {
    return start(
        cp,
        name,
        address,
        root,
        UnaryOperator.identity(),
        false,
        List::of,
        true,
        io.layerns.csi.cold.ColdBuckets.of(cp.newAdminClient(), secretNamespace),
        coldScrub);
  }

  private static InProcessAgent start(
      ControlPlane cp,
      String name,
      String address,
      Path root,
      UnaryOperator<URI> advertise,
      boolean withSftp,
      VolumeUsage volumes,
      boolean startWatch)
      throws IOException {
    return start(cp, name, address, root, advertise, withSftp, volumes, startWatch, null, null);
  }

  private static InProcessAgent start(
      ControlPlane cp,
      String name,
      String address,
      Path root,
      UnaryOperator<URI> advertise,
      boolean withSftp,
      VolumeUsage volumes,
      boolean startWatch,
      io.layerns.csi.cold.ColdBuckets cold,
      io.layerns.csi.agent.Scrubber.Settings coldScrub)
      throws IOException {
    InetAddress bind = InetAddress.getByName(address);
    LocalLayerStore store = LocalLayerStore.open(root);
    NodeKey nodeKey =
        NodeKey.loadOrCreate(root.resolveSibling(root.getFileName() + "-" + NodeKey.FILE_NAME));
    HttpExportServer export =
        HttpExportServer.start(store, new InetSocketAddress(bind, 0), Set.of(), nodeKey.keyPair());
    SftpExportServer sftp = null;
    String sftpEndpoint = null;
    // Published whether or not the node exports over SFTP, as the plugin does.
    String hostKey = nodeKey.publicKeyLine();
    if (withSftp) {
      sftp =
          SftpExportServer.start(
              root.resolve("layers"),
              new SftpExportConfig(
                  address,
                  0,
                  nodeKey.file(),
                  Set.of(),
                  SftpExportConfig.DEFAULT_USER,
                  Optional.empty()));
      sftpEndpoint = address + ":" + sftp.address().getPort();
    }
    RegistryClient registry = new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8"));
    ImageImporter importer = new ImageImporter(store, registry, Platform.LINUX_AMD64);
    var fetcher =
        new PeerLayerFetcher(
            new PeerFetcher(
                importer,
                PeerFetcher.httpClient(
                    bind,
                    nodeKey.keyPair(),
                    new MemberExportKeys(new KubernetesClusterView(cp.newAdminClient(), name))),
                Duration.ofSeconds(30)),
            registry,
            cold);
    NodeAgent agent =
        new NodeAgent(
            cp.newAdminClient(),
            name,
            store,
            fetcher,
            volumes,
            new StoreEndpoints(
                advertise.apply(export.baseUri()).toString(), sftpEndpoint, hostKey, null),
            10L << 30,
            Duration.ofSeconds(30),
            new RegistryPreloader(importer, store),
            Clock.systemUTC());
    if (cold != null) {
      agent.keepCold(
          cold,
          coldScrub,
          new io.layerns.api.events.EventRecorder(
              cp.newAdminClient(),
              Clock.systemUTC(),
              io.layerns.api.events.EventRecorder.NODE_PLUGIN,
              name));
    }
    if (startWatch) {
      agent.start();
    }
    AutoCloseable membership = null;
    if (withSftp) {
      var client = cp.newAdminClient();
      membership =
          ExportMembership.startWatched(
              client,
              new KubernetesClusterView(client, name),
              bind,
              Optional.of(nodeKey.keyPair().getPublic()),
              export,
              Optional.of(sftp),
              Optional.empty(),
              List.of(),
              Duration.ofSeconds(30));
    }
    return new InProcessAgent(name, store, export, sftp, nodeKey, membership, agent);
  }

  @Override
  public void close() throws IOException {
    if (membership != null) {
      try {
        membership.close();
      } catch (Exception e) {
        throw new IOException(e);
      }
    }
    agent.close();
    if (sftp != null) {
      sftp.close();
    }
    export.close();
    store.close();
  }
}
