package io.layerns.operator;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Serves /healthz, /readyz and Prometheus /metrics on one port, for probes and scraping. */
public final class HealthServer implements AutoCloseable {
  private final HttpServer server;

  public HealthServer(
      int port,
      BooleanSupplier live,
      Supplier<String> notReadyReason,
      PrometheusMeterRegistry metrics)
      throws IOException {
    server = HttpServer.create(new InetSocketAddress(port), 0);
    server.createContext(
        "/healthz",
        ex ->
            answer(
                ex,
                live.getAsBoolean() ? 200 : 500,
                live.getAsBoolean() ? "ok" : "informers unhealthy"));
    server.createContext(
        "/readyz",
        ex -> {
          String reason = notReadyReason.get();
          answer(ex, reason == null ? 200 : 503, reason == null ? "ok" : reason);
        });
    server.createContext("/metrics", ex -> answer(ex, 200, metrics.scrape()));
    server.start();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private static void answer(HttpExchange ex, int code, String body) throws IOException {
    byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    ex.sendResponseHeaders(code, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
