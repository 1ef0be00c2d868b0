package io.layerns.api.health;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A plain-text HTTP server for the kubelet's probes (and scraping): each path answers what its
 * supplier says at the time of the request. The operator and the node plugin both serve one.
 */
public final class ProbeServer implements AutoCloseable {

  /** One answer: an HTTP status and a text body. */
  public record Answer(int status, String body) {
    /** 200 "ok" when {@code reason} is null, else 503 with the reason. */
    public static Answer okUnless(String reason) {
      return reason == null ? new Answer(200, "ok") : new Answer(503, reason);
    }
  }

  private final HttpServer server;
  private final java.util.concurrent.ExecutorService executor;

  private ProbeServer(HttpServer server, java.util.concurrent.ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /** Serves {@code paths} on {@code address} (port 0 picks a free one). */
  public static ProbeServer start(InetSocketAddress address, Map<String, Supplier<Answer>> paths)
      throws IOException {
    HttpServer server = HttpServer.create(address, 0);
    paths.forEach((path, answer) -> server.createContext(path, ex -> send(ex, answer.get())));
    // A thread per request: a slow scrape of /metrics must not hold up the kubelet's probes.
    var executor = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
    server.setExecutor(executor);
    server.start();
    return new ProbeServer(server, executor);
  }

  public InetSocketAddress address() {
    return server.getAddress();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private static void send(HttpExchange ex, Answer answer) throws IOException {
    byte[] bytes = (answer.body() + "\n").getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    ex.sendResponseHeaders(answer.status(), bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
