package io.layerns.system;

import static org.awaitility.Awaitility.await;

import io.layerns.csi.store.Digest;
import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * Debian's {@code docker-registry} on 127.0.0.1, anonymous, for the publish ITs: pushes test images
 * with the Distribution API (as a user, to a registry that asks for one) and shows its log, whose
 * lines name the address each request came from.
 */
public final class PublishRegistry implements AutoCloseable {
  private static final Path BINARY = io.layerns.testing.RegistryConfig.BINARY;

  private final ManagedProcess process;
  private final int port;
  private final Path storage;
  private final HttpClient http = HttpClient.newHttpClient();

  /** The Authorization header of every request, or null when anonymous. */
  private final String authorization;

  private PublishRegistry(ManagedProcess process, int port, Path storage, String authorization) {
    this.process = process;
    this.port = port;
    this.storage = storage;
    this.authorization = authorization;
  }

  /**
   * A registry some other part started (the test cluster's), reached here on 127.0.0.1:{@code
   * port}; closing it leaves the registry running.
   */
  public static PublishRegistry existing(int port) {
    return new PublishRegistry(null, port, null, null);
  }

  /** The same, for a registry that lets in {@code user} with {@code password} (HTTP Basic). */
  public static PublishRegistry existing(int port, String user, String password) {
    String basic =
        Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    return new PublishRegistry(null, port, null, "Basic " + basic);
  }

  public static PublishRegistry start(Path dir) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      port = s.getLocalPort();
    }
    return start(dir, port);
  }

  /**
   * Starts on {@code port}, serving what {@code dir} holds: a registry that was stopped comes back
   * at the same address with the same images.
   */
  public static PublishRegistry start(Path dir, int port) throws IOException {
    Files.createDirectories(dir.resolve("storage"));
    Path config = writeConfig(dir, dir.resolve("storage"), "127.0.0.1:" + port, null);
    ManagedProcess process =
        ManagedProcess.start(
            "docker-registry",
            List.of(BINARY.toString(), "serve", config.toString()),
            dir.resolve("registry.log"));
    PublishRegistry registry = new PublishRegistry(process, port, dir.resolve("storage"), null);
    await("docker-registry answers")
        .atMost(Duration.ofSeconds(30))
        .ignoreExceptions()
        .until(
            () -> {
              if (!process.isAlive()) {
                throw new IllegalStateException("registry exited: " + process.logTail(20));
              }
              return registry.get("/v2/").statusCode() == 200;
            });
    return registry;
  }

  /**
   * Another docker-registry serving this one's images, inside {@code ns} on {@code address} (a
   * non-loopback host:port only that namespace has), over TLS with {@code tls} (certificate and
   * key) or plain HTTP when null. Returns once it listens.
   */
  public ManagedProcess serveInNamespace(NetworkNamespace ns, String address, Path[] tls, Path dir)
      throws IOException {
    Files.createDirectories(dir);
    Path config = writeConfig(dir, storage, address, tls);
    ManagedProcess served =
        ManagedProcess.start(
            "docker-registry",
            ns.command(List.of(BINARY.toString(), "serve", config.toString())),
            dir.resolve("registry.log"));
    // Nothing outside the namespace may talk to it: its log says when it listens.
    await("docker-registry listens on " + address + " in its network namespace")
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              if (!served.isAlive()) {
                throw new IllegalStateException("registry exited: " + served.logTail(20));
              }
              return Files.readString(served.log()).contains("listening on " + address);
            });
    return served;
  }

  private static Path writeConfig(Path dir, Path storage, String address, Path[] tls)
      throws IOException {
    String tlsBlock =
        tls == null
            ? ""
            : """
                tls:
                  certificate: %s
                  key: %s
              """
                .formatted(tls[0], tls[1]);
    return io.layerns.testing.RegistryConfig.write(dir, storage, address, tlsBlock, "");
  }

  public int port() {
    return port;
  }

  /** host:port, as an image reference names the registry. */
  public String host() {
    return "127.0.0.1:" + port;
  }

  /** Uploads the blobs, then the manifest under {@code tag}. */
  public void push(
      String repository, Map<Digest, byte[]> blobs, String mediaType, byte[] manifest, String tag)
      throws IOException, InterruptedException {
    for (Map.Entry<Digest, byte[]> b : blobs.entrySet()) {
      pushBlob(repository, b.getKey(), HttpRequest.BodyPublishers.ofByteArray(b.getValue()));
    }
    pushManifest(repository, mediaType, manifest, tag);
  }

  /** Uploads one blob in a single request, its bytes streamed from {@code content}. */
  public void pushBlob(String repository, Digest digest, HttpRequest.BodyPublisher content)
      throws IOException, InterruptedException {
    HttpResponse<String> start =
        send(
            HttpRequest.newBuilder(uri("/v2/" + repository + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
    expect(start, 202);
    URI location = uri("/").resolve(start.headers().firstValue("Location").orElseThrow());
    String sep = location.getRawQuery() == null ? "?" : "&";
    expect(
        send(
            HttpRequest.newBuilder(URI.create(location + sep + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(content)),
        201);
  }

  /** Uploads a manifest under {@code tag}; its blobs must be there already. */
  public void pushManifest(String repository, String mediaType, byte[] manifest, String tag)
      throws IOException, InterruptedException {
    expect(
        send(
            HttpRequest.newBuilder(uri("/v2/" + repository + "/manifests/" + tag))
                .header("Content-Type", mediaType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(manifest))),
        201);
  }

  /** The registry's log so far. */
  public String log() throws IOException {
    return Files.readString(process.log());
  }

  private HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(uri(path)).GET());
  }

  private URI uri(String path) {
    return URI.create("http://" + host() + path);
  }

  private HttpResponse<String> send(HttpRequest.Builder b)
      throws IOException, InterruptedException {
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return http.send(
        b.version(HttpClient.Version.HTTP_1_1).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static void expect(HttpResponse<String> r, int status) throws IOException {
    if (r.statusCode() != status) {
      throw new IOException(
          r.request().method()
              + " "
              + r.request().uri()
              + " answered "
              + r.statusCode()
              + ": "
              + r.body());
    }
  }

  @Override
  public void close() {
    if (process != null) {
      process.close();
    }
  }
}
