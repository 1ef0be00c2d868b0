package io.layerns.csi.export.http;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import io.layerns.csi.registry.ManifestDocument;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * What every server of the node's store under OCI Distribution paths shares: the members' HTTP
 * export ({@link HttpExportServer}) and containerd's mirror ({@code io.layerns.csi.mirror}). Path
 * parsing, blobs from the store with {@code Range} and HEAD, stored manifests with their media
 * type, and the OCI error body.
 */
public final class OciHttp {
  private static final int CHUNK = 256 * 1024;

  private OciHttp() {}

  /** What an OCI Distribution path asks for. */
  public enum Kind {
    BLOB,
    MANIFEST
  }

  /**
   * One {@code /v2/<name>/blobs/<reference>} or {@code /v2/<name>/manifests/<reference>} path.
   *
   * @param name the repository name as the client gave it
   * @param reference a digest, or for manifests also a tag
   */
  public record Request(String name, Kind kind, String reference) {

    /** Parses a raw request path; empty when it is no blob or manifest path. */
    public static Optional<Request> parse(String path) {
      if (!path.startsWith("/v2/")) {
        return Optional.empty();
      }
      String rest = path.substring(4);
      int blobs = rest.lastIndexOf("/blobs/");
      int manifests = rest.lastIndexOf("/manifests/");
      if (blobs > 0 && blobs > manifests) {
        return Optional.of(
            new Request(
                rest.substring(0, blobs), Kind.BLOB, rest.substring(blobs + "/blobs/".length())));
      }
      if (manifests > 0) {
        return Optional.of(
            new Request(
                rest.substring(0, manifests),
                Kind.MANIFEST,
                rest.substring(manifests + "/manifests/".length())));
      }
      return Optional.empty();
    }

    /** The reference as a digest, or null when it is none (a tag, or malformed). */
    public Digest digest() {
      return parseDigest(reference);
    }

    /** Whether the reference names a digest (well-formed or not) rather than a tag. */
    public boolean byDigest() {
      return reference.contains(":");
    }
  }

  /** The base URL of a server listening on {@code address}, such as {@code http://[::1]:7050}. */
  public static java.net.URI baseUri(String scheme, java.net.InetSocketAddress address) {
    String host = address.getAddress().getHostAddress();
    if (host.contains(":")) {
      host = "[" + host + "]";
    }
    return java.net.URI.create(scheme + "://" + host + ":" + address.getPort());
  }

  /** Whether the path is the API's base, {@code /v2/}, which answers 200 with {@code {}}. */
  public static boolean isBase(String path) {
    return path.equals("/v2/") || path.equals("/v2");
  }

  /** The request's raw path. */
  public static String path(HttpExchange exchange) {
    return exchange.getRequestURI().getRawPath();
  }

  public static boolean isHead(HttpExchange exchange) {
    return exchange.getRequestMethod().equals("HEAD");
  }

  /** A sha256 digest, or null when {@code reference} is none. */
  public static Digest parseDigest(String reference) {
    try {
      return Digest.parse(reference);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * Serves a stored blob: the whole file, or the one range its {@code Range} header asks (206), or
   * its headers only for HEAD.
   *
   * @return the bytes of the body sent (0 for HEAD or a 416), or -1 when the file is absent
   *     (nothing was sent: the caller answers)
   */
  public static long serveBlob(HttpExchange exchange, Digest digest, Path file) throws IOException {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      // Deleted between the caller's check and the open.
      return -1;
    }
    try (channel) {
      long size = channel.size();
      Headers h = exchange.getResponseHeaders();
      h.set("Docker-Content-Digest", digest.toString());
      h.set("ETag", "\"" + digest + "\"");
      h.set("Accept-Ranges", "bytes");
      h.set("Content-Type", "application/octet-stream");
      Optional<ByteRange> range;
      try {
        range = ByteRange.parse(exchange.getRequestHeaders().getFirst("Range"), size);
      } catch (ByteRange.Unsatisfiable e) {
        h.set("Content-Range", "bytes */" + size);
        error(exchange, 416, "RANGE_INVALID", e.getMessage());
        return 0;
      }
      long first = range.map(ByteRange::first).orElse(0L);
      long length = range.map(ByteRange::length).orElse(size);
      range.ifPresent(
          r -> h.set("Content-Range", "bytes " + r.first() + "-" + r.last() + "/" + size));
      int status = range.isPresent() ? 206 : 200;
      if (isHead(exchange)) {
        head(exchange, status, length);
        return 0;
      }
      exchange.sendResponseHeaders(status, length == 0 ? -1 : length);
      channel.position(first);
      copy(Channels.newInputStream(channel), exchange.getResponseBody(), length);
      return length;
    }
  }

  /** The stored blob if it is small enough to be a manifest, else null. */
  public static byte[] readManifest(LocalLayerStore store, Digest digest) throws IOException {
    try {
      Optional<Path> file = store.blob(digest);
      if (file.isEmpty() || Files.size(file.get()) > ManifestDocument.MAX_BYTES) {
        return null;
      }
      return Files.readAllBytes(file.get());
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /** The manifest's media type, or null when the bytes are no manifest (say, a layer). */
  public static String mediaType(byte[] bytes) {
    try {
      return ManifestDocument.parse(bytes, null).mediaType();
    } catch (IOException e) {
      return null;
    }
  }

  /** Answers with a manifest (or index) by its digest, in its own media type. */
  public static void sendManifest(
      HttpExchange exchange, Digest digest, byte[] bytes, String mediaType) throws IOException {
    exchange.getResponseHeaders().set("Docker-Content-Digest", digest.toString());
    exchange.getResponseHeaders().set("ETag", "\"" + digest + "\"");
    send(exchange, 200, mediaType, bytes);
  }

  /**
   * Answers a HEAD with the length the GET would have. The JDK server writes no Content-Length for
   * HEAD itself, and registry clients read the blob size from it.
   */
  public static void head(HttpExchange exchange, int status, long length) throws IOException {
    exchange.getResponseHeaders().set("Content-Length", Long.toString(length));
    exchange.sendResponseHeaders(status, -1);
  }

  public static void send(HttpExchange exchange, int status, String contentType, byte[] body)
      throws IOException {
    exchange.getResponseHeaders().set("Content-Type", contentType);
    if (isHead(exchange)) {
      head(exchange, status, body.length);
      return;
    }
    exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  /** Answers with an OCI error body: {@code {"errors":[{"code":...,"message":...}]}}. */
  public static void error(HttpExchange exchange, int status, String code, String message)
      throws IOException {
    String body =
        "{\"errors\":[{\"code\":"
            + json(code)
            + ",\"message\":"
            + json(message)
            + ",\"detail\":null}]}";
    send(exchange, status, "application/json", body.getBytes(StandardCharsets.UTF_8));
  }

  private static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  private static void copy(InputStream in, OutputStream out, long length) throws IOException {
    byte[] buf = new byte[CHUNK];
    long left = length;
    try (out) {
      while (left > 0) {
        int n = in.read(buf, 0, (int) Math.min(buf.length, left));
        if (n < 0) {
          throw new IOException("blob shrank while being served");
        }
        out.write(buf, 0, n);
        left -= n;
      }
    }
  }
}
