package io.layerns.csi.registry;

import static org.awaitility.Awaitility.await;

import io.layerns.csi.store.Digest;
import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Debian's {@code docker-registry} (the CNCF distribution registry) on 127.0.0.1 and a free port,
 * with its storage in a temp folder, anonymous or behind a {@link TokenServer}.
 */
public final class RegistryServer implements AutoCloseable {
  public static final Path BINARY = io.layerns.testing.RegistryConfig.BINARY;

  private final ManagedProcess process;
  private final int port;
  private final Path storage;

  private RegistryServer(ManagedProcess process, int port, Path storage) {
    this.process = process;
    this.port = port;
    this.storage = storage;
  }

  /** Starts a registry; {@code tokens} null means anonymous access with push for everyone. */
  public static RegistryServer start(Path dir, TokenServer tokens) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      port = s.getLocalPort();
    }
    Path storage = Files.createDirectories(dir.resolve("storage"));
    String auth =
        tokens == null
            ? ""
            : """
            auth:
              token:
                realm: %s
                service: %s
                issuer: %s
                rootcertbundle: %s
            """
                .formatted(
                    tokens.realm(),
                    TokenServer.SERVICE,
                    TokenServer.ISSUER,
                    tokens.certificateFile());
    Path config =
        io.layerns.testing.RegistryConfig.write(dir, storage, "127.0.0.1:" + port, "", auth);
    ManagedProcess process =
        ManagedProcess.start(
            "docker-registry",
            List.of(BINARY.toString(), "serve", config.toString()),
            dir.resolve("registry.log"));
    RegistryServer server = new RegistryServer(process, port, storage);
    HttpClient http = HttpClient.newHttpClient();
    await()
        .atMost(Duration.ofSeconds(30))
        .ignoreExceptions()
        .until(
            () -> {
              if (!process.isAlive()) {
                throw new IllegalStateException("registry exited: " + process.logTail(20));
              }
              int status =
                  http.send(
                          HttpRequest.newBuilder(URI.create(server.url() + "/v2/")).build(),
                          HttpResponse.BodyHandlers.discarding())
                      .statusCode();
              return status == 200 || status == 401;
            });
    return server;
  }

  /** host:port, as in an image reference. */
  public String host() {
    return "127.0.0.1:" + port;
  }

  public String url() {
    return "http://" + host();
  }

  /**
   * Flips one byte of a stored blob in place, keeping its size: what bit rot or an attacker does.
   */
  public void tamper(Digest blob, long offset) throws IOException {
    Path data =
        storage.resolve(
            "docker/registry/v2/blobs/sha256/"
                + blob.hex().substring(0, 2)
                + "/"
                + blob.hex()
                + "/data");
    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.seek(offset);
      int b = f.read();
      f.seek(offset);
      f.write(b ^ 0x20);
    }
  }

  /**
   * Makes the registry serve {@code manifest} as {@code repository:tag} without the blobs it names,
   * by writing it into the registry's storage the way a push would have: what the owner of a
   * registry can do with its disk, and what a push refuses (it checks the blobs are there).
   */
  public void plantManifest(String repository, String tag, byte[] manifest) throws IOException {
    plantManifest(storage, repository, tag, manifest);
  }

  /** The same, in the storage folder {@code storage} of any Debian docker-registry. */
  public static void plantManifest(Path storage, String repository, String tag, byte[] manifest)
      throws IOException {
    Digest digest = Digest.of(manifest);
    Path v2 = storage.resolve("docker/registry/v2");
    Path data =
        v2.resolve("blobs/sha256/" + digest.hex().substring(0, 2) + "/" + digest.hex() + "/data");
    Files.createDirectories(data.getParent());
    Files.write(data, manifest);
    Path manifests = v2.resolve("repositories/" + repository + "/_manifests");
    for (Path link :
        List.of(
            manifests.resolve("revisions/sha256/" + digest.hex() + "/link"),
            manifests.resolve("tags/" + tag + "/current/link"),
            manifests.resolve("tags/" + tag + "/index/sha256/" + digest.hex() + "/link"))) {
      Files.createDirectories(link.getParent());
      Files.writeString(link, digest.toString());
    }
  }

  /** Deletes {@code repository:tag} from the registry's storage, as an owner untagging it does. */
  public void deleteTag(String repository, String tag) throws IOException {
    Path dir =
        storage.resolve(
            "docker/registry/v2/repositories/" + repository + "/_manifests/tags/" + tag);
    try (var files = Files.walk(dir)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** The registry's whole log so far; its request lines name the address each came from. */
  public String log() throws IOException {
    return Files.readString(process.log());
  }

  public String logTail() {
    return process.logTail(30);
  }

  @Override
  public void close() {
    process.close();
  }
}
