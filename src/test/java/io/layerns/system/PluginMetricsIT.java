package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.system.PublishImage.Entry;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.WithControlPlane;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node plugin's {@code /metrics} as Prometheus scrapes it, from the real plugin process with
 * the real control plane, operator and registry: a publish moves the publish histogram, the bytes
 * fetched from the registry and the store gauges; a copy that rots under a published volume moves
 * the scrub's counters and shows as quarantined until the volume goes; a non-member's request to
 * the export counts as a refusal.
 */
@WithControlPlane
class PluginMetricsIT {
  private static final String NS = "metrics";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final String NODE = "metrics-1";
  private static final String ADDRESS = "127.0.1.71";
  private static final Pattern HEALTH = Pattern.compile("health on (http://\\S+)/healthz");

  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @Test
  void publishScrubAndRefusalMoveTheExportedSeries(ControlPlane cp, @TempDir Path dir)
      throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    Instant started = Instant.now();
    KubernetesClient client = cp.client();
    byte[] data = new byte[512 << 10];
    new Random(18).nextBytes(data);
    PublishImage image =
        new PublishImage(
            List.of(
                List.of(
                    Entry.dir("data", 0755),
                    Entry.binary("data/random", 0644, data),
                    Entry.file("data/greeting", 0644, "hello, metrics\n"))));
    PublishImage.Layer layer = image.layers.getFirst();

    try (PublishRegistry registry =
            PublishRegistry.start(Files.createDirectories(dir.resolve("registry")));
        LayernsOperator operator =
            new LayernsOperator(
                cp.newAdminClient(), OperatorConfig.embedded("metrics-it"), Clock.systemUTC())) {
      registry.push(
          "layerns/metrics", image.blobs(), PublishImage.MANIFEST_TYPE, image.manifest, "v1");
      String reference = registry.host() + "/layerns/metrics@" + image.manifestDigest();
      operator.start();
      TestNodes.addReadyNode(client, NODE, POOL, ADDRESS);
      TestNodes.addNamespace(client, NS, POOL, 1, Transport.Copy);

      Path store = dir.resolve("store");
      try (ManagedProcess plugin =
          PluginProcess.start(
              cp,
              NODE,
              ADDRESS,
              dir.resolve("plugin"),
              store,
              // Every copy re-read within 2 s, so that the test sees the rot soon.
              "--scrub-period-seconds=2",
              "--scrub-bytes-per-second=" + (64 << 20))) {
        URI metricsUri = awaitHealth(plugin).resolve("/metrics");
        KubeletCsi csi = awaitCsi(plugin, dir.resolve("plugin/csi.sock"), dir.resolve("kubelet"));
        try {
          Map<String, Double> before = scrape(metricsUri);
          assertThat(before)
              .containsEntry(
                  "layerns_node_publish_seconds_count{outcome=\"ok\",transport=\"copy\"}", 0.0)
              .containsEntry("layerns_node_fetched_bytes_total{source=\"registry\"}", 0.0)
              .containsEntry("layerns_node_copies", 0.0);

          PublishNode.Volume volume = csi.publish(reference, "metrics-pod", true);
          Map<String, Double> published = scrape(metricsUri);
          assertThat(published)
              .containsEntry(
                  "layerns_node_publish_seconds_count{outcome=\"ok\",transport=\"copy\"}", 1.0)
              .containsEntry("layerns_node_copies", 1.0);
          assertThat(published.get("layerns_node_fetched_bytes_total{source=\"registry\"}"))
              .as("the layer's blob came from the registry")
              .isGreaterThanOrEqualTo((double) layer.blob().length);
          assertThat(published.get("layerns_node_stored_bytes"))
              .isGreaterThanOrEqualTo((double) data.length);
          assertThat(
                  published.get(
                      "layerns_node_publish_seconds_sum{outcome=\"ok\",transport=\"copy\"}"))
              .isPositive();

          await("the scrub re-verifies the intact copy")
              .atMost(Duration.ofSeconds(60))
              .pollInterval(Duration.ofMillis(500))
              .untilAsserted(
                  () -> {
                    Map<String, Double> m = scrape(metricsUri);
                    assertThat(m.get("layerns_node_scrub_copies_verified_total")).isPositive();
                    assertThat(m.get("layerns_node_scrub_last_full_pass_timestamp_seconds"))
                        .isGreaterThanOrEqualTo(started.getEpochSecond());
                    assertThat(m).containsEntry("layerns_node_scrub_corrupt_copies_total", 0.0);
                  });

          // The copy the volume reads rots: the scrub finds it and takes it out of the store; it
          // stays quarantined while the volume reads it.
          flipAByte(
              store
                  .resolve("layers/sha256")
                  .resolve(layer.digest().hex())
                  .resolve("diff/data/random"));
          await("the scrub finds the rotten copy and quarantines it")
              .atMost(Duration.ofSeconds(60))
              .pollInterval(Duration.ofMillis(500))
              .untilAsserted(
                  () -> {
                    Map<String, Double> m = scrape(metricsUri);
                    assertThat(m).containsEntry("layerns_node_scrub_corrupt_copies_total", 1.0);
                    assertThat(m).containsEntry("layerns_node_quarantined_copies", 1.0);
                    assertThat(m.get("layerns_node_scrub_read_bytes_total")).isPositive();
                  });

          csi.unpublish(volume);
          // The scrub empties the quarantine between reads; with nothing to read it waits a minute.
          await("the quarantined copy goes with the volume that read it")
              .atMost(Duration.ofSeconds(120))
              .pollInterval(Duration.ofMillis(500))
              .untilAsserted(
                  () -> {
                    Map<String, Double> m = scrape(metricsUri);
                    assertThat(m)
                        .containsEntry("layerns_node_unpublish_seconds_count{outcome=\"ok\"}", 1.0);
                    assertThat(m).containsEntry("layerns_node_quarantined_copies", 0.0);
                  });

          // A client that is no member node is refused by the export, and counted.
          String export = exportOf(client);
          HttpClient outsider =
              HttpClient.newBuilder()
                  .localAddress(InetAddress.getByName("127.0.0.1"))
                  // Takes whatever key the export presents: it is the export that must refuse.
                  .sslContext(trustingAnyServer())
                  .connectTimeout(Duration.ofSeconds(2))
                  .build();
          URI blob = URI.create(export + "/v2/blobs/" + layer.digest());
          // Once the export knows the namespace's members (its membership watch).
          await("the export refuses a client that is no member node")
              .atMost(Duration.ofSeconds(30))
              .pollInterval(Duration.ofMillis(500))
              .until(
                  () ->
                      outsider
                              .send(
                                  HttpRequest.newBuilder(blob)
                                      .timeout(Duration.ofSeconds(5))
                                      .build(),
                                  HttpResponse.BodyHandlers.discarding())
                              .statusCode()
                          == 403);
          assertThat(scrape(metricsUri).get("layerns_node_refusals_total{reason=\"non_member\"}"))
              .isGreaterThanOrEqualTo(1.0);
        } finally {
          csi.close();
        }
      } finally {
        KubeletMounts.unmountAllUnder(dir);
      }
    }
  }

  private static javax.net.ssl.SSLContext trustingAnyServer() throws Exception {
    javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
    tls.init(
        null,
        new javax.net.ssl.TrustManager[] {
          // Extended: a plain X509TrustManager would still have the JDK check the host name.
          new javax.net.ssl.X509ExtendedTrustManager() {
            @Override
            public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String a) {}

            @Override
            public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String a) {}

            @Override
            public void checkClientTrusted(
                java.security.cert.X509Certificate[] chain, String a, java.net.Socket s) {}

            @Override
            public void checkServerTrusted(
                java.security.cert.X509Certificate[] chain, String a, java.net.Socket s) {}

            @Override
            public void checkClientTrusted(
                java.security.cert.X509Certificate[] chain, String a, javax.net.ssl.SSLEngine e) {}

            @Override
            public void checkServerTrusted(
                java.security.cert.X509Certificate[] chain, String a, javax.net.ssl.SSLEngine e) {}

            @Override
            public java.security.cert.X509Certificate[] getAcceptedIssuers() {
              return new java.security.cert.X509Certificate[0];
            }
          }
        },
        null);
    return tls;
  }

  /** The plugin's health address, from its log. */
  private static URI awaitHealth(ManagedProcess plugin) {
    URI[] found = new URI[1];
    await("the plugin logs its health address")
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              assertThat(plugin.isAlive()).as(plugin.logTail(40)).isTrue();
              Matcher m = HEALTH.matcher(Files.readString(plugin.log()));
              if (m.find()) {
                found[0] = URI.create(m.group(1));
              }
              return found[0] != null;
            });
    return found[0];
  }

  private static KubeletCsi awaitCsi(ManagedProcess plugin, Path socket, Path kubeletDir) {
    KubeletCsi[] csi = new KubeletCsi[1];
    await("the plugin answers Probe on its CSI socket")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .ignoreExceptions()
        .until(
            () -> {
              assertThat(plugin.isAlive()).as(plugin.logTail(40)).isTrue();
              if (!Files.exists(socket)) {
                return false;
              }
              if (csi[0] == null) {
                csi[0] = new KubeletCsi(socket, kubeletDir);
              }
              return csi[0].probe();
            });
    return csi[0];
  }

  private static String exportOf(KubernetesClient client) {
    LayerStore s = client.resources(LayerStore.class).withName(NODE).get();
    return s.getStatus().endpoints().http();
  }

  /** Every sample of a scrape, keyed by its name and labels as the exposition prints them. */
  private Map<String, Double> scrape(URI uri) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return PrometheusText.samples(r.body());
  }

  private static void flipAByte(Path file) throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      long at = f.length() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0xff);
    }
  }
}
