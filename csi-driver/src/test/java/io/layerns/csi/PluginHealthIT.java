package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.layerns.testing.ManagedProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node plugin's own liveness endpoint, called as the kubelet's httpGet probe calls it: the real
 * plugin process (CsiPluginMain) answers 200 while the kubelet can reach its CSI socket, and 503
 * naming the problem once it cannot.
 */
class PluginHealthIT {
  private static final Pattern HEALTH = Pattern.compile("health on (http://\\S+/healthz)");

  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @Test
  void healthzAnswersOkWhileTheCsiSocketServesAnd503WithTheReasonWhenItIsGone(@TempDir Path dir)
      throws Exception {
    Path socket = dir.resolve("csi.sock");
    Files.createDirectories(dir.resolve("logs"));
    try (ManagedProcess plugin =
        ManagedProcess.start(
            "health-plugin",
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path"),
                CsiPluginMain.class.getName(),
                "--node-name=health-1",
                "--csi-endpoint=unix://" + socket,
                "--registration-dir=",
                "--state-dir=" + dir.resolve("state"),
                "--image-dir=" + dir.resolve("images"),
                "--agent=false",
                "--export-address=127.0.0.1",
                "--health-port=0"),
            dir.resolve("logs/plugin.log"))) {
      AtomicReference<URI> healthz = new AtomicReference<>();
      await("the plugin logs its health address")
          .atMost(Duration.ofSeconds(30))
          .until(
              () -> {
                assertThat(plugin.isAlive()).as(plugin.logTail(30)).isTrue();
                Matcher m = HEALTH.matcher(Files.readString(plugin.log()));
                if (m.find()) {
                  healthz.set(URI.create(m.group(1)));
                }
                return healthz.get() != null;
              });

      await("/healthz answers 200 once the plugin serves")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                HttpResponse<String> ok = get(healthz.get());
                assertThat(ok.statusCode()).isEqualTo(200);
                assertThat(ok.body()).isEqualTo("ok\n");
              });

      // What a kubelet would meet if the socket vanished under a running plugin: a restart fixes
      // it.
      Files.delete(socket);
      HttpResponse<String> broken = get(healthz.get());
      assertThat(broken.statusCode()).isEqualTo(503);
      assertThat(broken.body()).isEqualTo("CSI socket " + socket + " is gone\n");
    }
  }

  private HttpResponse<String> get(URI uri) throws Exception {
    return http.send(
        HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
