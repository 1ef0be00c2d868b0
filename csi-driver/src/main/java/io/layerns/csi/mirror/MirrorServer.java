package io.layerns.csi.mirror;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.layerns.csi.export.http.OciHttp;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.metrics.NodeMetrics.MirrorSource;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A registry mirror for the node's own containerd: plain HTTP on the node (default {@code
 * 127.0.0.1:7050}), which containerd's {@code hosts.toml} names as a mirror of each upstream
 * registry. containerd asks {@code GET}/{@code HEAD /v2/<repository>/blobs/<digest>?ns=<upstream>}
 * and {@code /v2/<repository>/manifests/<reference>?ns=<upstream>}; the mirror answers
 *
 * <ul>
 *   <li>blobs and manifests <b>by digest</b> from the node's store; when the node lacks one and a
 *       member peer holds it, from that peer over the members' verified HTTP transport ({@link
 *       PeerFetcher}: the bytes reach the store, and containerd, only once they match the digest).
 *       A layer fetched this way is kept (unpacked, a held layer in the node's {@code LayerStore}
 *       status, then under the namespace's placement like any other copy) when {@link
 *       Settings#keepFetched} and the node is a namespace member; else it is served and dropped;
 *   <li>a manifest <b>by tag</b> never from records: 404, so containerd asks the upstream, unless
 *       {@link Settings#tagMaxAge} is above zero and this node itself resolved that tag with the
 *       upstream registry within that time ({@link RegistryClient#lastResolved});
 *   <li><b>private</b> pieces (see {@link PrivateImages}: a manifest or config a registry served
 *       only with credentials, or a layer this node or a member knows only through such images)
 *       only to a request showing Basic credentials that the upstream registry accepts for a
 *       repository holding the piece ({@link MirrorAccess}); without them it answers 401 with a
 *       {@code WWW-Authenticate: Basic} challenge, which makes containerd send the pull secret's
 *       credentials. Public pieces need none;
 *   <li>anything else 404 with an OCI error body: containerd then goes to the next host, the
 *       upstream.
 * </ul>
 *
 * <p>Settings come from the plugin's environment ({@link Settings#parse}): {@value
 * Settings#ADDRESS} ({@code host:port}, default {@value Settings#DEFAULT_ADDRESS}, {@code off}
 * turns the mirror off), {@value Settings#TAG_MAX_AGE} (seconds, default 0: tags always go
 * upstream), {@value Settings#KEEP} ({@code true} by default).
 *
 * <p>It is not the members' HTTP export ({@code HttpExportServer}): that one speaks TLS to member
 * nodes only; this one speaks plain HTTP to the node's own containerd, and so listens on loopback
 * by default. Both serve the store through {@link OciHttp}.
 */
public final class MirrorServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MirrorServer.class);

  /** The realm of the Basic challenge sent for private content. */
  public static final String REALM = "layerns mirror";

  /**
   * How many peers are asked for a manifest or config nobody reports (peers report layers only).
   */
  static final int PEERS_ASKED_FOR_DOCUMENTS = 3;

  /** How long one read of the namespace's LayerStores answers requests (a pull is a burst). */
  static final Duration VIEW_TTL = Duration.ofSeconds(2);

  /**
   * The mirror's settings.
   *
   * @param address where it listens; empty when it is off
   * @param tagMaxAge how recently this node must have resolved a tag with its registry for the
   *     mirror to answer it; zero: never (containerd asks the upstream)
   * @param keepFetched whether a layer fetched from a peer stays in the store (when the node is a
   *     namespace member; placement then decides how long)
   */
  public record Settings(
      Optional<InetSocketAddress> address, Duration tagMaxAge, boolean keepFetched) {
    public static final String ADDRESS = "LAYERNS_MIRROR_ADDRESS";
    public static final String TAG_MAX_AGE = "LAYERNS_MIRROR_TAG_MAX_AGE";
    public static final String KEEP = "LAYERNS_MIRROR_KEEP";
    public static final String DEFAULT_ADDRESS = "127.0.0.1:7050";

    /** The defaults: on at {@value #DEFAULT_ADDRESS}, no tags, keep what peers send. */
    public static final Settings DEFAULT = parse(Map.of());

    /**
     * From the plugin's environment.
     *
     * @throws IllegalArgumentException naming the variable that is malformed
     */
    public static Settings parse(Map<String, String> env) {
      String address = env.getOrDefault(ADDRESS, DEFAULT_ADDRESS).trim();
      Optional<InetSocketAddress> bind = Optional.empty();
      if (!address.equalsIgnoreCase("off")) {
        URI uri;
        try {
          uri = URI.create("http://" + address);
        } catch (IllegalArgumentException e) {
          uri = null;
        }
        if (uri == null
            || uri.getHost() == null
            || uri.getPort() < 0
            || uri.getRawPath() == null
            || !uri.getRawPath().isEmpty()) {
          throw new IllegalArgumentException(
              ADDRESS + "=\"" + address + "\" is not host:port (nor \"off\")");
        }
        String host = uri.getHost().replaceAll("^\\[|\\]$", "");
        bind = Optional.of(new InetSocketAddress(host, uri.getPort()));
      }
      long seconds;
      try {
        seconds = Long.parseLong(env.getOrDefault(TAG_MAX_AGE, "0").trim());
      } catch (NumberFormatException e) {
        seconds = -1;
      }
      if (seconds < 0) {
        throw new IllegalArgumentException(
            TAG_MAX_AGE + "=\"" + env.get(TAG_MAX_AGE) + "\" is not a number of seconds >= 0");
      }
      return new Settings(
          bind,
          Duration.ofSeconds(seconds),
          Boolean.parseBoolean(env.getOrDefault(KEEP, "true").trim()));
    }
  }

  private final Settings settings;
  private final LocalLayerStore store;
  private final ImageImporter importer;
  private final PeerFetcher peers;
  private final ClusterView cluster;
  private final PrivateImages privateImages;
  private final MirrorAccess access;
  private final Clock clock;
  private final HttpServer server;
  private final ExecutorService executor;
  private volatile NodeMetrics metrics = NodeMetrics.NONE;
  private volatile CachedView view;
  private volatile Runnable kept = () -> {};

  private record CachedView(NamespaceView view, Instant until) {}

  private MirrorServer(
      Settings settings,
      ImageImporter importer,
      PeerFetcher peers,
      ClusterView cluster,
      Clock clock,
      HttpServer server,
      ExecutorService executor) {
    this.settings = settings;
    this.store = importer.store();
    this.importer = importer;
    this.peers = peers;
    this.cluster = cluster;
    this.privateImages = importer.privateImages();
    this.access = new MirrorAccess(importer.registryClient(), clock);
    this.clock = clock;
    this.server = server;
    this.executor = executor;
  }

  /**
   * Starts the mirror on {@code settings.address()} (port 0 picks a free one).
   *
   * @param importer the node's importer: its store is served, its registry client checks
   *     credentials and knows which tags this node resolved
   * @param peers how layers are fetched from member peers, verified
   * @param cluster the node's namespace: which peers hold which layers, and their private marks
   * @throws IllegalArgumentException when the settings turn the mirror off
   */
  public static MirrorServer start(
      Settings settings, ImageImporter importer, PeerFetcher peers, ClusterView cluster)
      throws IOException {
    return start(settings, importer, peers, cluster, Clock.systemUTC());
  }

  /** As the public {@code start}, on {@code clock} (tag windows, credential answers). */
  static MirrorServer start(
      Settings settings,
      ImageImporter importer,
      PeerFetcher peers,
      ClusterView cluster,
      Clock clock)
      throws IOException {
    InetSocketAddress bind =
        settings
            .address()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "the mirror is off (" + Settings.ADDRESS + "=off)"));
    HttpServer server = HttpServer.create(bind, 64);
    ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    MirrorServer mirror =
        new MirrorServer(settings, importer, peers, cluster, clock, server, executor);
    server.createContext("/", mirror::handle);
    server.setExecutor(executor);
    server.start();
    LOG.info(
        "containerd mirror of {} on {} (tags answered when resolved here within {} s, keep fetched"
            + " layers: {})",
        importer.store().root(),
        mirror.baseUri(),
        settings.tagMaxAge().toSeconds(),
        settings.keepFetched());
    return mirror;
  }

  /**
   * Runs {@code listener} each time a layer fetched from a peer has been kept (is a held layer).
   * The plugin passes its node agent's trigger: the agent reports its held layers only on a pass,
   * and nothing else starts one when the mirror adds a layer (no spec change, no volume), so
   * without it the copy stayed out of the LayerStore status, unseen by the operator.
   */
  public void onKept(Runnable listener) {
    this.kept = listener;
  }

  /** Where requests and bytes served are counted, by source. */
  public void recordTo(NodeMetrics metrics) {
    this.metrics = metrics;
  }

  /** The address it listens on, with the port it got. */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  /** The URL for {@code hosts.toml}, such as {@code http://127.0.0.1:7050}. */
  public URI baseUri() {
    return OciHttp.baseUri("http", address());
  }

  @Override
  public void close() {
    server.stop(0);
    executor.close();
  }

  // ---- requests ----------------------------------------------------------------------------

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String method = exchange.getRequestMethod();
      exchange.getResponseHeaders().set("Docker-Distribution-API-Version", "registry/2.0");
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        OciHttp.error(exchange, 405, "UNSUPPORTED", "this mirror is read-only");
        return;
      }
      String path = OciHttp.path(exchange);
      if (OciHttp.isBase(path)) {
        OciHttp.send(exchange, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
        return;
      }
      Optional<OciHttp.Request> request = OciHttp.Request.parse(path);
      if (request.isEmpty()) {
        notFound(exchange, "NAME_UNKNOWN", "not an OCI Distribution path");
        return;
      }
      String upstream = query(exchange, "ns");
      if (request.get().kind() == OciHttp.Kind.BLOB) {
        serveBlob(exchange, request.get(), upstream);
      } else {
        serveManifest(exchange, request.get(), upstream);
      }
    } catch (IOException e) {
      // The client went away mid-response; nothing to tell it.
      LOG.debug("mirror request {} failed: {}", exchange.getRequestURI(), e.toString());
    }
  }

  private void serveBlob(HttpExchange exchange, OciHttp.Request request, String upstream)
      throws IOException {
    Digest digest = request.digest();
    if (digest == null) {
      notFound(exchange, "DIGEST_INVALID", "\"" + request.reference() + "\" is no sha256 digest");
      return;
    }
    NamespaceView ns = namespace(exchange);
    if (ns == null || !authorized(exchange, request, upstream, digest, ns)) {
      return;
    }
    Optional<Path> file = store.blob(digest);
    if (file.isPresent()) {
      long sent = OciHttp.serveBlob(exchange, digest, file.get());
      if (sent >= 0) {
        metrics.mirrored(MirrorSource.LOCAL, sent);
        return;
      }
    }
    boolean layer = !ns.holders(digest).isEmpty();
    if (!fetchFromPeers(digest, ns, layer)) {
      notFound(
          exchange,
          "BLOB_UNKNOWN",
          "blob " + digest + " is neither on this node nor intact on a member peer");
      return;
    }
    file = store.blob(digest);
    long sent = file.isEmpty() ? -1 : OciHttp.serveBlob(exchange, digest, file.get());
    if (sent < 0) {
      notFound(exchange, "BLOB_UNKNOWN", "blob " + digest + " went before it could be served");
      return;
    }
    metrics.mirrored(MirrorSource.PEER, sent);
    if (layer) {
      keepOrDrop(digest, ns);
    }
  }

  private void serveManifest(HttpExchange exchange, OciHttp.Request request, String upstream)
      throws IOException {
    Digest digest;
    if (request.byDigest()) {
      digest = request.digest();
      if (digest == null) {
        notFound(exchange, "DIGEST_INVALID", "\"" + request.reference() + "\" is no sha256 digest");
        return;
      }
    } else {
      Optional<Digest> recent = recentTag(request, upstream);
      if (recent.isEmpty()) {
        notFound(
            exchange,
            "MANIFEST_UNKNOWN",
            "tag "
                + request.reference()
                + " was not resolved with "
                + (upstream == null ? "its registry" : upstream)
                + " by this node within "
                + settings.tagMaxAge().toSeconds()
                + " s: ask the registry");
        return;
      }
      digest = recent.get();
    }
    NamespaceView ns = namespace(exchange);
    if (ns == null || !authorized(exchange, request, upstream, digest, ns)) {
      return;
    }
    MirrorSource source = MirrorSource.LOCAL;
    byte[] bytes = OciHttp.readManifest(store, digest);
    if (bytes == null && fetchFromPeers(digest, ns, false)) {
      bytes = OciHttp.readManifest(store, digest);
      source = MirrorSource.PEER;
    }
    String mediaType = bytes == null ? null : OciHttp.mediaType(bytes);
    if (mediaType == null) {
      notFound(
          exchange,
          "MANIFEST_UNKNOWN",
          "manifest " + digest + " is neither on this node nor on a member peer");
      return;
    }
    metrics.mirrored(source, OciHttp.isHead(exchange) ? 0 : bytes.length);
    OciHttp.sendManifest(exchange, digest, bytes, mediaType);
  }

  /** The digest the tag pointed at when this node resolved it upstream, if recent enough. */
  private Optional<Digest> recentTag(OciHttp.Request request, String upstream) {
    Duration maxAge = settings.tagMaxAge();
    if (maxAge.isZero() || upstream == null) {
      return Optional.empty();
    }
    ImageReference image;
    try {
      image = ImageReference.parse(upstream + "/" + request.name() + ":" + request.reference());
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
    Instant oldest = clock.instant().minus(maxAge);
    return importer
        .registryClient()
        .lastResolved(image)
        .filter(r -> !r.at().isBefore(oldest))
        .map(RegistryClient.ResolvedTag::digest);
  }

  /**
   * Lets a request for a private piece through only with credentials the registry accepts; answers
   * it (401 or 404) and says false otherwise. Public pieces pass without a word.
   */
  private boolean authorized(
      HttpExchange exchange,
      OciHttp.Request request,
      String upstream,
      Digest digest,
      NamespaceView ns)
      throws IOException {
    Set<String> holders = new TreeSet<>(privateImages.repositories(digest));
    if (request.kind() == OciHttp.Kind.BLOB) {
      holders.addAll(privateImages.layerRepositories(digest));
      holders.addAll(ns.privateTo(digest));
    }
    if (holders.isEmpty()) {
      return true;
    }
    String asked = upstream == null ? null : upstream + "/" + request.name();
    MirrorAccess.Verdict verdict =
        access.check(
            holders,
            upstream,
            asked,
            digest,
            request.kind() == OciHttp.Kind.MANIFEST,
            exchange.getRequestHeaders().getFirst("Authorization"));
    switch (verdict) {
      case MirrorAccess.Granted g -> {
        LOG.debug("private {} served: the registry accepts the credentials for {}", digest, g);
        return true;
      }
      case MirrorAccess.NoCredentials n -> {
        challenge(exchange, digest + " is private: show the registry's credentials");
        return false;
      }
      case MirrorAccess.Refused r -> {
        LOG.info("refused private {} to a mirror request: {}", digest, r.why());
        metrics.refused(NodeMetrics.Refusal.ACCESS_DENIED);
        challenge(
            exchange,
            digest + " is private and the registry did not accept these credentials: " + r.why());
        return false;
      }
      case MirrorAccess.Unreachable u -> {
        notFound(
            exchange,
            request.kind() == OciHttp.Kind.BLOB ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN",
            digest + " is private and its registry could not be asked: " + u.why());
        return false;
      }
    }
  }

  private void challenge(HttpExchange exchange, String message) throws IOException {
    exchange
        .getResponseHeaders()
        .set("WWW-Authenticate", "Basic realm=\"" + REALM + "\", charset=\"UTF-8\"");
    metrics.mirrored(MirrorSource.UNAUTHORIZED, 0);
    OciHttp.error(exchange, 401, "UNAUTHORIZED", message);
  }

  /**
   * Brings {@code digest} into the store from member peers, verified: from those that report it
   * held when it is a layer, else (a manifest or config, which peers do not report) from the first
   * few peers. False when none delivered it intact.
   */
  private boolean fetchFromPeers(Digest digest, NamespaceView ns, boolean layer) {
    List<NamespaceView.PeerStore> asked =
        layer ? ns.holders(digest) : ns.peers().stream().limit(PEERS_ASKED_FOR_DOCUMENTS).toList();
    List<URI> uris =
        asked.stream()
            .filter(p -> p.endpoints() != null && p.endpoints().http() != null)
            .map(p -> URI.create(p.endpoints().http()))
            .toList();
    if (uris.isEmpty()) {
      return false;
    }
    try {
      if (layer) {
        // Before it lands: a layer private on the members is private here too.
        Set<String> marks = ns.privateTo(digest);
        if (!marks.isEmpty()) {
          privateImages.recordLayer(digest, marks);
        }
      }
      peers.fetchBlob(digest, uris, List.of());
      return true;
    } catch (IOException e) {
      LOG.warn("mirror could not fetch {} from peers: {}", digest, e.getMessage());
      return false;
    }
  }

  /**
   * A layer fetched from a peer and served: unpacked into a held layer when kept (in the
   * background: containerd has its bytes already), else dropped.
   */
  private void keepOrDrop(Digest digest, NamespaceView ns) {
    boolean keep = settings.keepFetched() && ns.name() != null;
    executor.execute(
        () -> {
          try {
            if (keep) {
              importer.fetchLayer(digest, null, null, -1, List.of());
              LOG.info("layer {} pulled through the mirror from a peer: kept", digest);
            } else if (!store.hasLayer(digest)) {
              store.deleteBlob(digest);
            }
          } catch (IOException | RuntimeException e) {
            LOG.warn(
                "layer {} pulled through the mirror could not be kept: {}", digest, e.toString());
            try {
              if (!store.hasLayer(digest)) {
                store.deleteBlob(digest);
              }
            } catch (IOException again) {
              LOG.warn("could not drop blob {}: {}", digest, again.toString());
            }
            return;
          }
          if (keep) {
            try {
              kept.run(); // the agent's pass reports it as held; placement then takes it in
            } catch (RuntimeException e) {
              LOG.warn("kept layer {} could not be reported at once: {}", digest, e.toString());
            }
          }
        });
  }

  /** The namespace, read at most every {@link #VIEW_TTL}; null (and answered) when unreadable. */
  private NamespaceView namespace(HttpExchange exchange) throws IOException {
    CachedView cached = view;
    Instant now = clock.instant();
    if (cached != null && now.isBefore(cached.until())) {
      return cached.view();
    }
    try {
      NamespaceView fresh = cluster.namespace();
      view = new CachedView(fresh, now.plus(VIEW_TTL));
      return fresh;
    } catch (IOException e) {
      // Without the members' private marks nothing is served: containerd asks the upstream.
      LOG.warn("mirror could not read the namespace: {}", e.getMessage());
      notFound(
          exchange, "BLOB_UNKNOWN", "the mirror could not read its namespace: " + e.getMessage());
      return null;
    }
  }

  private void notFound(HttpExchange exchange, String code, String message) throws IOException {
    metrics.mirrored(MirrorSource.NOT_FOUND, 0);
    OciHttp.error(exchange, 404, code, message);
  }

  private static String query(HttpExchange exchange, String name) {
    String query = exchange.getRequestURI().getRawQuery();
    if (query == null) {
      return null;
    }
    for (String part : query.split("&")) {
      int eq = part.indexOf('=');
      String key = eq < 0 ? part : part.substring(0, eq);
      if (key.equals(name) && eq >= 0) {
        String value = URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
        return value.isBlank() ? null : value;
      }
    }
    return null;
  }
}
