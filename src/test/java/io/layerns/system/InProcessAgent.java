package io.layerns.system;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.PeerLayerFetcher;
import io.layerns.csi.agent.RegistryPreloader;
import io.layerns.csi.export.http.HttpExportServer;
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
import java.util.Set;
import java.util.function.UnaryOperator;

/** A node agent run inside the test JVM: its own store, HTTP export on its own loopback address. */
record InProcessAgent(String name, LayerStore store, HttpExportServer export, NodeAgent agent)
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
    InetAddress bind = InetAddress.getByName(address);
    LayerStore store = LayerStore.open(root);
    HttpExportServer export =
        HttpExportServer.start(store, new InetSocketAddress(bind, 0), Set.of());
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
            List::of,
            new StoreEndpoints(advertise.apply(export.baseUri()).toString(), null, null, null),
            10L << 30,
            Duration.ofSeconds(30),
            new RegistryPreloader(importer, store),
            Clock.systemUTC());
    agent.start();
    return new InProcessAgent(name, store, export, agent);
  }

  @Override
  public void close() throws IOException {
    agent.close();
    export.close();
    store.close();
  }
}
