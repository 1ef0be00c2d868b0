package io.layerns.csi.node;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A registry small enough for unit tests: serves pushed test images over the Distribution read API,
 * records every request, and guards private repositories with Basic authentication.
 */
final class FakeRegistry implements AutoCloseable {

  private record Manifest(String mediaType, byte[] bytes) {}

  private final HttpServer server;
  private final Map<String, Manifest> manifests = new ConcurrentHashMap<>();
  private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
  private final Map<String, String> privateRepos = new ConcurrentHashMap<>();
  private final List<String> requests = new CopyOnWriteArrayList<>();

  private FakeRegistry(HttpServer server) {
    this.server = server;
  }

  static FakeRegistry start() throws IOException {
    HttpServer s =
        HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 16);
    FakeRegistry r = new FakeRegistry(s);
    s.createContext("/", r::handle);
    s.start();
    return r;
  }

  /** host:port, as an image reference names it. */
  String host() {
    return "127.0.0.1:" + server.getAddress().getPort();
  }

  /** Stores the image under {@code repository}, by digest and by {@code tag}. */
  void push(String repository, TestImage image, String tag) {
    Manifest m = new Manifest(image.manifestMediaType(), image.manifest());
    manifests.put(repository + "/" + tag, m);
    manifests.put(repository + "/" + image.manifestDigest(), m);
    image.blobs().forEach((d, b) -> blobs.put(repository + "/" + d, b));
  }

  /** Answers 401 with a Basic challenge unless the request carries {@code user:password}. */
  void makePrivate(String repository, String user, String password) {
    privateRepos.put(
        repository,
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
  }

  /** Every request so far, as "METHOD PATH". */
  List<String> requests() {
    return List.copyOf(requests);
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    requests.add(ex.getRequestMethod() + " " + path);
    try (ex) {
      if (path.equals("/v2/")) {
        reply(ex, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
        return;
      }
      int manifestsAt = path.indexOf("/manifests/");
      int blobsAt = path.indexOf("/blobs/");
      int at = manifestsAt >= 0 ? manifestsAt : blobsAt;
      if (!path.startsWith("/v2/") || at < 0) {
        reply(ex, 404, "application/json", error("NAME_UNKNOWN"));
        return;
      }
      String repo = path.substring(4, at);
      String guard = privateRepos.get(repo);
      if (guard != null && !guard.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"fake\"");
        reply(ex, 401, "application/json", error("UNAUTHORIZED"));
        return;
      }
      if (manifestsAt >= 0) {
        Manifest m = manifests.get(repo + "/" + path.substring(manifestsAt + 11));
        if (m == null) {
          reply(ex, 404, "application/json", error("MANIFEST_UNKNOWN"));
        } else {
          ex.getResponseHeaders().add("Docker-Content-Digest", Digest.of(m.bytes()).toString());
          reply(ex, 200, m.mediaType(), m.bytes());
        }
        return;
      }
      byte[] blob = blobs.get(repo + "/" + path.substring(blobsAt + 7));
      if (blob == null) {
        reply(ex, 404, "application/json", error("BLOB_UNKNOWN"));
      } else {
        reply(ex, 200, "application/octet-stream", blob);
      }
    }
  }

  private static byte[] error(String code) {
    return ("{\"errors\":[{\"code\":\"" + code + "\"}]}").getBytes(StandardCharsets.UTF_8);
  }

  private static void reply(HttpExchange ex, int status, String type, byte[] body)
      throws IOException {
    ex.getResponseHeaders().add("Content-Type", type);
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(status, head ? -1 : body.length);
    if (!head) {
      ex.getResponseBody().write(body);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
