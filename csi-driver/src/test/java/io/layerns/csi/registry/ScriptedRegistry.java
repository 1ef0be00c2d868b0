package io.layerns.csi.registry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A registry that serves whatever a test scripts, valid or not, over the Distribution read API
 * ({@code GET /v2/<repo>/manifests/<ref>}, {@code GET /v2/<repo>/blobs/<digest>}): Debian's
 * docker-registry refuses to store a malformed manifest, so hostile ones are served from here.
 */
public final class ScriptedRegistry implements AutoCloseable {

  /**
   * A manifest answer.
   *
   * @param contentType the Content-Type header
   * @param claimedDigest the Docker-Content-Digest header, or null for the body's true digest
   * @param body the bytes, or null to stream {@code streamedBytes} of '[' without end in sight
   */
  public record Manifest(
      String contentType, String claimedDigest, byte[] body, long streamedBytes) {
    public static Manifest of(String contentType, byte[] body) {
      return new Manifest(contentType, null, body, 0);
    }
  }

  private final HttpServer server;
  private final Map<String, Manifest> manifests = new ConcurrentHashMap<>();
  private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
  private final AtomicLong streamedBytesSent = new AtomicLong();

  private ScriptedRegistry(HttpServer server) {
    this.server = server;
  }

  public static ScriptedRegistry start() throws IOException {
    HttpServer s =
        HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 16);
    ScriptedRegistry r = new ScriptedRegistry(s);
    s.createContext("/", r::handle);
    s.start();
    return r;
  }

  /** host:port, as an image reference names it. */
  public String host() {
    return "127.0.0.1:" + server.getAddress().getPort();
  }

  /** Serves {@code m} for {@code repository}'s manifest {@code reference} (a tag or digest). */
  public void manifest(String repository, String reference, Manifest m) {
    manifests.put(repository + "/" + reference, m);
  }

  /** Serves {@code bytes} as the blob {@code digest} (which need not be their digest). */
  public void blob(String repository, Digest digest, byte[] bytes) {
    blobs.put(repository + "/" + digest, bytes);
  }

  /** Serves a whole test image under {@code repository}, by digest and by {@code tag}. */
  public void push(String repository, TestImage image, String tag) {
    Manifest m = Manifest.of(image.manifestMediaType(), image.manifest());
    manifest(repository, tag, m);
    manifest(repository, image.manifestDigest().toString(), m);
    image.blobs().forEach((d, b) -> blob(repository, d, b));
  }

  /** Bytes of streamed manifests written before the client hung up. */
  public long streamedBytesSent() {
    return streamedBytesSent.get();
  }

  /** Forgets everything served so far. */
  public void clear() {
    manifests.clear();
    blobs.clear();
    streamedBytesSent.set(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    try (ex) {
      int manifestsAt = path.indexOf("/manifests/");
      int blobsAt = path.indexOf("/blobs/");
      if (path.startsWith("/v2/") && manifestsAt > 0) {
        Manifest m =
            manifests.get(path.substring(4, manifestsAt) + "/" + path.substring(manifestsAt + 11));
        if (m == null) {
          reply(ex, 404, "application/json", error("MANIFEST_UNKNOWN"));
        } else if (m.body() == null) {
          stream(ex, m);
        } else {
          ex.getResponseHeaders()
              .add(
                  "Docker-Content-Digest",
                  m.claimedDigest() != null ? m.claimedDigest() : Digest.of(m.body()).toString());
          reply(ex, 200, m.contentType(), m.body());
        }
      } else if (path.startsWith("/v2/") && blobsAt > 0) {
        byte[] b = blobs.get(path.substring(4, blobsAt) + "/" + path.substring(blobsAt + 7));
        if (b == null) {
          reply(ex, 404, "application/json", error("BLOB_UNKNOWN"));
        } else {
          reply(ex, 200, "application/octet-stream", b);
        }
      } else {
        reply(ex, 404, "application/json", error("NAME_UNKNOWN"));
      }
    }
  }

  /** Sends an endless-looking body in chunks, counting what the client took before it hung up. */
  private void stream(HttpExchange ex, Manifest m) throws IOException {
    ex.getResponseHeaders().add("Content-Type", m.contentType());
    ex.sendResponseHeaders(200, 0);
    byte[] chunk = new byte[64 * 1024];
    Arrays.fill(chunk, (byte) '[');
    OutputStream out = ex.getResponseBody();
    try {
      for (long sent = 0; sent < m.streamedBytes(); sent += chunk.length) {
        out.write(chunk);
        streamedBytesSent.addAndGet(chunk.length);
      }
    } catch (IOException e) {
      // The client stopped reading: that is what the test wants to see.
    }
  }

  private static byte[] error(String code) {
    return ("{\"errors\":[{\"code\":\"" + code + "\"}]}").getBytes(StandardCharsets.UTF_8);
  }

  private static void reply(HttpExchange ex, int status, String type, byte[] body)
      throws IOException {
    ex.getResponseHeaders().add("Content-Type", type);
    ex.sendResponseHeaders(status, body.length);
    ex.getResponseBody().write(body);
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
