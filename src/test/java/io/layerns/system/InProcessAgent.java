package io.layerns.system;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.agent.RegistryPreloader;
import io.layerns.csi.agent.VolumeUsage;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.sftp.SftpExportConfig;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.LayerStore;
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
 */
public record InProcessAgent(
    String name, LayerStore store, HttpExportServer export, SftpExportServer sftp, NodeAgent agent)
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
    return start(cp, name, address, root, advertise, null, List::of, true);
  }

  /**
   * An agent that also serves its layers over SFTP (reported with its host key) and reports the
   * volumes {@code volumes} lists, as the node plugin does. Its watch of its LayerStore is not
   * started: the caller wires the rest first and then starts it, in the plugin's order.
   *
   * @param authorizedKeys the cluster's public key, which peers' sshfs logs in with
   */
  static InProcessAgent startWithSftp(
      ControlPlane cp,
      String name,
      String address,
      Path root,
      Path authorizedKeys,
      VolumeUsage volumes)
      throws IOException {
    return start(cp, name, address, root, UnaryOperator.identity(), authorizedKeys, volumes, false);
  }

  private static InProcessAgent start(
      ControlPlane cp,
      String name,
      String address,
      Path root,
      UnaryOperator<URI> advertise,
      Path authorizedKeys,
      VolumeUsage volumes,
      boolean startWatch)
      throws IOException {
    InetAddress bind = InetAddress.getByName(address);
    LayerStore store = LayerStore.open(root);
    HttpExportServer export =
        HttpExportServer.start(store, new InetSocketAddress(bind, 0), Set.of());
    SftpExportServer sftp = null;
    String sftpEndpoint = null;
    String hostKey = null;
    if (authorizedKeys != null) {
      sftp =
          SftpExportServer.start(
              root.resolve("layers"),
              new SftpExportConfig(
                  address,
                  0,
                  root.resolveSibling(root.getFileName() + "-ssh_host_ecdsa_key"),
                  authorizedKeys,
                  SftpExportConfig.DEFAULT_USER,
                  Optional.empty()));
      sftpEndpoint = address + ":" + sftp.address().getPort();
      hostKey = sftp.hostPublicKey();
    }
    RegistryClient registry = new RegistryClient(Set.of());
    ImageImporter importer = new ImageImporter(store, registry, Platform.LINUX_AMD64);
    var fetcher =
        new PeerLayerFetcher(
            new PeerFetcher(importer, PeerFetcher.httpClient(bind), Duration.ofSeconds(30)),
            registry);
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
    if (startWatch) {
      agent.start();
    }
    return new InProcessAgent(name, store, export, sftp, agent);
  }

  @Override
  public void close() throws IOException {
    agent.close();
    if (sftp != null) {
      sftp.close();
    }
    export.close();
    store.close();
  }
}
