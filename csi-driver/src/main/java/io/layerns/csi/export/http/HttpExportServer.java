package io.layerns.csi.export.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.registry.ImageRefs;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.OverlayMarkers;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PublicKey;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the node's layer store to its peers, read-only, under OCI Distribution paths: any blob by
 * digest whatever the repository name (the namespace is content-addressed), with ranges, and the
 * stored manifests by digest or by a tag this node pulled. Any registry client can read it that
 * speaks TLS with a member node's key.
 *
 * <p>It speaks TLS only ({@link NodeTls}): it presents a certificate of the node's own key, which
 * peers pin to the key this node published, and serves content only to clients presenting a
 * member's key in theirs ({@link #allowKeys}), checked on every request. Someone on the path
 * between two nodes sees neither which layers they exchange nor their bytes.
 *
 * <p>Private manifests and configs (those a registry served only with credentials, see {@link
 * PrivateImages}) are never served: a peer must read them from the registry with its pod's own pull
 * secrets, which is what keeps a private image from pods without access. Layers are served whatever
 * image they belong to: they are content-addressed, and useless without the private config that
 * names their diff IDs.
 */
public final class HttpExportServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpExportServer.class);

  /** Where the overlay markers of a layer are served: {@code MARKERS_PATH + digest}. */
  public static final String MARKERS_PATH = "/layerns/v1/overlay-markers/";

  /**
   * The response header of the markers that names the layer's diff ID, which a peer checks against
   * the image config before it mounts the layer (as it does for a local copy).
   */
  public static final String DIFF_ID_HEADER = "Layerns-Diff-Id";

  private final LocalLayerStore store;
  private final ImageRefs refs;
  private final PrivateImages privateImages;
  private final HttpsServer server;
  private final ExecutorService executor;
  private final Map<Digest, OverlayMarkers> markers = new ConcurrentHashMap<>();
  private volatile io.layerns.csi.metrics.NodeMetrics metrics =
      io.layerns.csi.metrics.NodeMetrics.NONE;
  private volatile Set<InetAddress> allowedClients;

  /** The keys a client's certificate must hold (members' own keys); null lets any client in. */
  private volatile Set<PublicKey> memberKeys;

  private HttpExportServer(
      LocalLayerStore store,
      HttpsServer server,
      ExecutorService executor,
      Set<InetAddress> allowed) {
    this.store = store;
    this.refs = new ImageRefs(store.root());
    this.privateImages = new PrivateImages(store.root());
    this.server = server;
    this.executor = executor;
    this.allowedClients = Set.copyOf(allowed);
  }

  /**
   * Starts serving {@code store} on {@code bind} (port 0 picks a free one), over TLS with {@code
   * nodeKey}. Until {@link #allowKeys} names the members, any client certificate is accepted.
   *
   * @param allowedClients the addresses allowed to connect (the cluster's nodes); empty lets
   *     everyone in
   * @param nodeKey the node's own key pair ({@link io.layerns.csi.identity.NodeKey}), the one it
   *     publishes, which its certificate holds
   */
  public static HttpExportServer start(
      LocalLayerStore store,
      InetSocketAddress bind,
      Set<InetAddress> allowedClients,
      KeyPair nodeKey)
      throws IOException {
    HttpsServer server = HttpsServer.create(bind, 64);
    SSLContext tls = NodeTls.server(nodeKey);
    server.setHttpsConfigurator(
        new HttpsConfigurator(tls) {
          @Override
          public void configure(HttpsParameters params) {
            SSLParameters p = tls.getDefaultSSLParameters();
            p.setProtocols(new String[] {NodeTls.PROTOCOL});
            // Asked, not required: a client without a key gets a 403 saying why, not a reset.
            p.setWantClientAuth(true);
            params.setSSLParameters(p);
          }
        });
    ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    HttpExportServer export = new HttpExportServer(store, server, executor, allowedClients);
    server.createContext("/", export::handle);
    server.setExecutor(executor);
    server.start();
    LOG.info("HTTP export of {} listening on {}", store.root(), export.baseUri());
    return export;
  }

  /** Where bytes served and refused clients are counted. */
  public void recordTo(io.layerns.csi.metrics.NodeMetrics metrics) {
    this.metrics = metrics;
  }

  /** Replaces the allow-list, as nodes join and leave; empty lets everyone in. */
  public void allowClients(Set<InetAddress> clients) {
    this.allowedClients = Set.copyOf(clients);
  }

  /**
   * From now on, serves content only to clients whose certificate holds one of {@code members} (the
   * member nodes' own keys), as membership changes; checked on every request, so that a node that
   * left is refused on a connection it already holds. An address alone, which a pod on a member
   * node shares, no longer reads a blob. {@code /v2/}, which holds nothing, still answers clients
   * without a key from allowed addresses.
   */
  public void allowKeys(Set<PublicKey> members) {
    this.memberKeys = Set.copyOf(members);
  }

  /** The address the server listens on, with the port it got. */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  /** The base URL peers use, such as {@code https://127.0.1.2:40123}. */
  public URI baseUri() {
    return OciHttp.baseUri("https", address());
  }

  @Override
  public void close() {
    server.stop(0);
    executor.close();
  }

  // ---- requests ----------------------------------------------------------------------------

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      Set<InetAddress> allowed = allowedClients;
      InetAddress client = exchange.getRemoteAddress().getAddress();
      if (!allowed.isEmpty() && !allowed.contains(client)) {
        LOG.warn("refused {} {} from {}", exchange.getRequestMethod(), path(exchange), client);
        metrics.refused(io.layerns.csi.metrics.NodeMetrics.Refusal.NON_MEMBER);
        error(exchange, 403, "DENIED", "client " + client.getHostAddress() + " is not a member");
        return;
      }
      String method = exchange.getRequestMethod();
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        error(exchange, 405, "UNSUPPORTED", "this export is read-only");
        return;
      }
      String refusal = clientKeyRefusal(exchange);
      if (refusal != null) {
        LOG.warn("refused {} {} from {}: {}", method, path(exchange), client, refusal);
        metrics.refused(io.layerns.csi.metrics.NodeMetrics.Refusal.NON_MEMBER);
        error(exchange, 403, "DENIED", refusal);
        return;
      }
      route(exchange);
    } catch (IOException e) {
      // The client went away mid-response; nothing to tell it.
      LOG.debug("request {} failed: {}", exchange.getRequestURI(), e.toString());
    }
  }

  /** Why the client's key may not read, or null when it may (or no key is asked yet). */
  private String clientKeyRefusal(HttpExchange exchange) {
    Set<PublicKey> members = memberKeys;
    String path = path(exchange);
    if (members == null || path.equals("/v2/") || path.equals("/v2")) {
      return null;
    }
    Optional<PublicKey> key = NodeTls.clientKey(((HttpsExchange) exchange).getSSLSession());
    if (key.isEmpty()) {
      return "the client presented no certificate: only member nodes, with their own keys, read"
          + " this export";
    }
    if (members.stream().noneMatch(m -> NodeTls.sameKey(m, key.get()))) {
      return "the client's certificate holds a key no member node published ("
          + NodeTls.describe(key.get())
          + ")";
    }
    return null;
  }

  private void route(HttpExchange exchange) throws IOException {
    String path = path(exchange);
    exchange.getResponseHeaders().set("Docker-Distribution-API-Version", "registry/2.0");
    if (OciHttp.isBase(path)) {
      send(exchange, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
      return;
    }
    if (path.startsWith(MARKERS_PATH)) {
      serveMarkers(exchange, path.substring(MARKERS_PATH.length()));
      return;
    }
    Optional<OciHttp.Request> request = OciHttp.Request.parse(path);
    if (request.isEmpty()) {
      error(exchange, 404, "NAME_UNKNOWN", "not an OCI Distribution path");
    } else if (request.get().kind() == OciHttp.Kind.BLOB) {
      serveBlob(exchange, request.get().reference());
    } else {
      serveManifest(exchange, request.get().name(), request.get().reference());
    }
  }

  /**
   * The whiteouts and opaque directories of an unpacked layer, which remote mounts cannot carry
   * (see {@link OverlayMarkers}); scanned once per layer, since a committed layer never changes.
   */
  private void serveMarkers(HttpExchange exchange, String reference) throws IOException {
    Digest digest = parseDigest(reference);
    if (digest == null) {
      error(exchange, 400, "DIGEST_INVALID", "\"" + reference + "\" is not a sha256 digest");
      return;
    }
    Optional<StoredLayer> layer = store.layer(digest);
    if (layer.isEmpty()) {
      error(exchange, 404, "BLOB_UNKNOWN", "layer " + digest + " is not unpacked on this node");
      return;
    }
    OverlayMarkers found = markers.get(digest);
    if (found == null) {
      found = OverlayMarkers.scan(layer.get().directory());
      markers.put(digest, found);
    }
    if (layer.get().diffId() != null) {
      exchange.getResponseHeaders().set(DIFF_ID_HEADER, layer.get().diffId().toString());
    }
    send(exchange, 200, "application/json", found.toJson());
  }

  private void serveBlob(HttpExchange exchange, String reference) throws IOException {
    Digest digest = parseDigest(reference);
    if (digest == null) {
      error(exchange, 400, "DIGEST_INVALID", "\"" + reference + "\" is not a sha256 digest");
      return;
    }
    if (privateImages.isPrivate(digest)) {
      refusePrivate(exchange, "BLOB_UNKNOWN", "blob " + digest);
      return;
    }
    Optional<Path> file = store.blob(digest);
    long sent = file.isEmpty() ? -1 : OciHttp.serveBlob(exchange, digest, file.get());
    if (sent < 0) {
      error(exchange, 404, "BLOB_UNKNOWN", "blob " + digest + " is not in this node's store");
      return;
    }
    metrics.served(io.layerns.csi.metrics.NodeMetrics.Export.HTTP, sent);
  }

  private void serveManifest(HttpExchange exchange, String name, String reference)
      throws IOException {
    Optional<Digest> digest;
    if (reference.startsWith("sha256:")) {
      digest = Optional.ofNullable(parseDigest(reference));
      if (digest.isEmpty()) {
        error(exchange, 400, "DIGEST_INVALID", "\"" + reference + "\" is not a sha256 digest");
        return;
      }
    } else {
      digest = refs.lookup(name, reference);
    }
    if (digest.isPresent() && privateImages.isPrivate(digest.get())) {
      refusePrivate(exchange, "MANIFEST_UNKNOWN", "manifest " + name + ":" + reference);
      return;
    }
    byte[] bytes = digest.isPresent() ? OciHttp.readManifest(store, digest.get()) : null;
    String mediaType = bytes == null ? null : OciHttp.mediaType(bytes);
    if (mediaType == null) {
      error(
          exchange,
          404,
          "MANIFEST_UNKNOWN",
          "manifest " + name + ":" + reference + " is not in this node's store");
      return;
    }
    OciHttp.sendManifest(exchange, digest.get(), bytes, mediaType);
  }

  /**
   * Answers as if the document were absent (404), so that the peer goes on to the registry, which
   * decides with the pod's own credentials.
   */
  private static void refusePrivate(HttpExchange exchange, String code, String what)
      throws IOException {
    LOG.debug("not serving private {} to {}", what, exchange.getRemoteAddress());
    error(
        exchange,
        404,
        code,
        what + " belongs to a private image: read it from its registry with the pod's credentials");
  }

  // ---- helpers (shared with the mirror: OciHttp) ---------------------------------------------

  private static String path(HttpExchange exchange) {
    return OciHttp.path(exchange);
  }

  private static Digest parseDigest(String reference) {
    return OciHttp.parseDigest(reference);
  }

  private static void send(HttpExchange exchange, int status, String contentType, byte[] body)
      throws IOException {
    OciHttp.send(exchange, status, contentType, body);
  }

  private static void error(HttpExchange exchange, int status, String code, String message)
      throws IOException {
    OciHttp.error(exchange, status, code, message);
  }
}
