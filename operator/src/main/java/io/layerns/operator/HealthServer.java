package io.layerns.operator;

import io.layerns.api.health.ProbeServer;
import io.layerns.api.health.ProbeServer.Answer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Serves /healthz, /readyz and Prometheus /metrics on one port, for probes and scraping. */
public final class HealthServer implements AutoCloseable {
  private final ProbeServer server;

  public HealthServer(
      int port,
      BooleanSupplier live,
      Supplier<String> notReadyReason,
      PrometheusMeterRegistry metrics)
      throws IOException {
    server =
        ProbeServer.start(
            new InetSocketAddress(port),
            Map.of(
                "/healthz",
                () ->
                    live.getAsBoolean()
                        ? new Answer(200, "ok")
                        : new Answer(500, "informers unhealthy"),
                "/readyz",
                () -> Answer.okUnless(notReadyReason.get()),
                "/metrics",
                () -> new Answer(200, metrics.scrape())));
  }

  public int port() {
    return server.port();
  }

  @Override
  public void close() {
    server.close();
  }
}
