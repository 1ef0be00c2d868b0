package io.layerns.csi.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.TestNodeKeys;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The importer's and the HTTP export's choke points, counted in a real registry: bytes fetched from
 * an OCI layout, bytes served to a member over the real (TLS) export, and a client from an address
 * that is no member's refused.
 */
class ExportMetricsIT {

  @Test
  void fetchedServedAndRefusedAreCountedWhereTheyHappen(@TempDir Path tmp) throws Exception {
    NodeMetrics metrics = NodeMetrics.prometheus();
    try (LocalLayerStore store = LocalLayerStore.open(tmp.resolve("store"))) {
      TestImage image = TestImage.threeLayers("metrics", Platform.LINUX_AMD64);
      image.writeLayout(tmp.resolve("layout"), "v1");
      ImageImporter importer =
          new ImageImporter(store, new RegistryClient(Set.of()), Platform.LINUX_AMD64);
      importer.recordTo(metrics);
      PulledImage pulled =
          importer.importLayout(
              tmp.resolve("layout"), ImageReference.parse("origin.example/team/app:v1"));
      long layerBytes = pulled.layers().stream().mapToLong(PulledImage.Layer::size).sum();
      assertThat(sample(metrics, "layerns_node_fetched_bytes_total{source=\"layout\"}"))
          .as("every layer's blob, read from the layout")
          .isEqualTo(layerBytes);

      // Members: 127.0.0.1, where loopback connections leave from unless a client binds another.
      KeyPair exportKey = TestNodeKeys.generate();
      KeyPair memberKey = TestNodeKeys.generate();
      HttpExportServer export =
          HttpExportServer.start(
              store,
              new InetSocketAddress("127.0.1.2", 0),
              Set.of(InetAddress.getByName("127.0.0.1")),
              exportKey);
      export.allowKeys(Set.of(memberKey.getPublic()));
      export.recordTo(metrics);
      // A member's client: its own key, and the export's pinned.
      SSLContext tls =
          NodeTls.client(
              Optional.of(memberKey), (host, port) -> Optional.of(exportKey.getPublic()));
      try {
        PulledImage.Layer layer = pulled.layers().getFirst();
        URI blob = URI.create(export.baseUri() + "/v2/team/app/blobs/" + layer.digest());
        HttpResponse<byte[]> served = get(HttpClient.newBuilder().sslContext(tls), blob);
        assertThat(served.statusCode()).isEqualTo(200);
        assertThat(served.body()).hasSize((int) layer.size());
        assertThat(sample(metrics, "layerns_node_served_bytes_total{export=\"http\"}"))
            .isEqualTo(layer.size());

        HttpResponse<byte[]> refused =
            get(
                HttpClient.newBuilder()
                    .sslContext(tls)
                    .localAddress(InetAddress.getByName("127.0.1.3")),
                blob);
        assertThat(refused.statusCode()).isEqualTo(403);
        assertThat(sample(metrics, "layerns_node_refusals_total{reason=\"non_member\"}"))
            .isEqualTo(1);
        assertThat(sample(metrics, "layerns_node_served_bytes_total{export=\"http\"}"))
            .as("nothing more served to the outsider")
            .isEqualTo(layer.size());
      } finally {
        export.close();
      }
    }
  }

  private static HttpResponse<byte[]> get(HttpClient.Builder client, URI uri) throws Exception {
    return client
        .connectTimeout(Duration.ofSeconds(2))
        .build()
        .send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofByteArray());
  }

  /** One sample's value from the scrape, by its name and labels as the exposition prints them. */
  private static double sample(NodeMetrics metrics, String series) {
    for (String line : metrics.scrape().split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1));
      }
    }
    throw new AssertionError("no sample " + series + " in the scrape");
  }
}
