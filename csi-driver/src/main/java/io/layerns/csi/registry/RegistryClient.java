package io.layerns.csi.registry;

import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * A read-only client of the OCI Distribution API: manifests and blobs of one repository at a time,
 * anonymous, Basic or Bearer-token authenticated. Thread-safe; one per node agent.
 */
public final class RegistryClient {
  /** Where Docker Hub's API lives; image references name it {@code docker.io}. */
  static final String DOCKER_HUB_API = "registry-1.docker.io";

  private static final int MAX_REDIRECTS = 5;
  private static final int MAX_ERROR_BODY = 8 * 1024;
  private static final int MAX_TOKEN_BODY = 1024 * 1024;
  private static final Duration DEFAULT_TOKEN_LIFETIME = Duration.ofSeconds(60);

  private final HttpClient http;
  private final RegistryHosts hosts;

  /** Clients with a registry's own trust (its CA, or none with skip_verify), by registry. */
  private final Map<String, HttpClient> tlsClients = new ConcurrentHashMap<>();

  private final RegistryAddresses allowed;
  private final Duration requestTimeout;
  private final Map<String, CachedAuthorization> authorizations = new ConcurrentHashMap<>();

  /**
   * The digest each tag pointed at when this client last resolved it with its registry, and when:
   * what lets containerd's mirror answer a tag this node checked recently (see {@link
   * #lastResolved}), keyed by {@code registry/repository:tag}.
   */
  private final Map<String, ResolvedTag> resolvedTags = new ConcurrentHashMap<>();

  private static final int MAX_RESOLVED_TAGS = 10_000;

  /**
   * A tag resolved with its registry.
   *
   * @param digest the manifest (or index) it pointed at
   * @param at when the registry said so
   */
  public record ResolvedTag(Digest digest, Instant at) {}

  /**
   * A client with its own HTTP client, which refuses loopback, link-local and unspecified
   * addresses.
   *
   * @param plainHttpRegistries registry hosts (host[:port]) reached over plain HTTP; loopback hosts
   *     always are
   */
  public RegistryClient(Set<String> plainHttpRegistries) {
    this(RegistryHosts.plainHttp(plainHttpRegistries), RegistryAddresses.DEFAULT);
  }

  /** The same, sending requests to the addresses {@code allowed} lets in besides. */
  public RegistryClient(Set<String> plainHttpRegistries, RegistryAddresses allowed) {
    this(RegistryHosts.plainHttp(plainHttpRegistries), allowed);
  }

  /**
   * A client with its own HTTP client, reaching each registry as {@code hosts} says, at ordinary
   * addresses and those {@code allowed} lets in.
   */
  public RegistryClient(RegistryHosts hosts, RegistryAddresses allowed) {
    this(newHttpClient(null), hosts, allowed, Duration.ofSeconds(60));
  }

  /**
   * A client on the given HTTP client, which must not follow redirects itself: this client follows
   * them so that credentials never go to another host, and checks each hop's address.
   *
   * @param allowed the loopback, link-local or unspecified addresses requests may go to
   * @param requestTimeout how long to wait for a response's headers
   */
  public RegistryClient(
      HttpClient http,
      Set<String> plainHttpRegistries,
      RegistryAddresses allowed,
      Duration requestTimeout) {
    this(http, RegistryHosts.plainHttp(plainHttpRegistries), allowed, requestTimeout);
  }

  public RegistryClient(
      HttpClient http, RegistryHosts hosts, RegistryAddresses allowed, Duration requestTimeout) {
    this.http = http;
    this.hosts = hosts;
    this.allowed = allowed;
    this.requestTimeout = requestTimeout;
  }

  private static HttpClient newHttpClient(javax.net.ssl.SSLContext tls) {
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NEVER);
    if (tls != null) {
      b.sslContext(tls);
    }
    return b.build();
  }

  /**
   * A source for the image's repository, using the credentials {@code auths} holds for its
   * registry, or none.
   */
  public Repository repository(ImageReference image, DockerConfig auths) {
    return new Repository(image, auths.credentialsFor(image.registry()));
  }

  /**
   * What {@code image}'s tag pointed at when this client last resolved it with the registry (a pull
   * by tag, or {@link Repository#currentDigest}); empty when it never did, or {@code image} has no
   * tag. Peers' records never count: only the registry's own answer to this node.
   */
  public Optional<ResolvedTag> lastResolved(ImageReference image) {
    if (image.tag() == null) {
      return Optional.empty();
    }
    return Optional.ofNullable(resolvedTags.get(image.name() + ":" + image.tag()));
  }

  private void resolved(ImageReference image, String tag, Digest digest) {
    if (resolvedTags.size() >= MAX_RESOLVED_TAGS) {
      resolvedTags.clear(); // a forgotten tag only goes back to the registry
    }
    resolvedTags.put(image.name() + ":" + tag, new ResolvedTag(digest, Instant.now()));
  }

  /** The base URL of a registry's API: its configured server, else https, or http for loopback. */
  URI baseUri(String registry) {
    Optional<RegistryHosts.Host> configured = hosts.host(registry);
    if (configured.isPresent()) {
      return configured.get().server();
    }
    String host = registry.equals(ImageReference.DOCKER_HUB) ? DOCKER_HUB_API : registry;
    return URI.create((usesPlainHttp(registry) ? "http://" : "https://") + host);
  }

  private boolean usesPlainHttp(String authority) {
    Optional<RegistryHosts.Host> configured = hosts.forServer(authority);
    if (configured.isPresent()) {
      return configured.get().plainHttp();
    }
    String host = URI.create("http://" + authority).getHost();
    if (host == null) {
      return false;
    }
    if (host.equals("localhost")) {
      return true;
    }
    // Only literal loopback addresses; resolving a name here would be a lookup per request.
    if (host.matches("[0-9.]+") || host.startsWith("[")) {
      try {
        return InetAddress.getByName(host).isLoopbackAddress();
      } catch (IOException e) {
        return false;
      }
    }
    return false;
  }

  /** One repository of one registry, with the credentials to use there. */
  public final class Repository implements ContentSource {
    private final ImageReference image;
    private final Optional<Credentials> credentials;
    private final String authKey;

    private Repository(ImageReference image, Optional<Credentials> credentials) {
      this.image = image;
      this.credentials = credentials;
      this.authKey = image.name() + "|" + fingerprint(credentials);
    }

    @Override
    public String describe() {
      return "registry " + image.name();
    }

    @Override
    public Optional<String> repository() {
      return Optional.of(image.name());
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      URI uri = api("/manifests/" + reference);
      HttpResponse<InputStream> response =
          send("GET", uri, b -> b.header("Accept", String.join(", ", MediaTypes.MANIFESTS)));
      try (InputStream body = response.body()) {
        if (response.statusCode() != 200) {
          throw failure(response, body, "manifest " + reference);
        }
        byte[] bytes = body.readNBytes(ManifestDocument.MAX_BYTES + 1);
        if (bytes.length > ManifestDocument.MAX_BYTES) {
          throw new RegistryException(
              Reason.UNSUPPORTED,
              image.registry(),
              200,
              "manifest " + reference + " is larger than " + ManifestDocument.MAX_BYTES + " bytes");
        }
        Digest digest = Digest.of(bytes);
        Optional<String> claimed = response.headers().firstValue("Docker-Content-Digest");
        if (claimed.isPresent() && !claimed.get().equals(digest.toString())) {
          throw new RegistryException(
              Reason.CORRUPT,
              image.registry(),
              200,
              "manifest "
                  + reference
                  + " was served as "
                  + claimed.get()
                  + " but its content has digest "
                  + digest);
        }
        if (!reference.contains(":")) {
          resolved(image, reference, digest);
        }
        return new FetchedManifest(
            digest,
            response.headers().firstValue("Content-Type").orElse(null),
            bytes,
            credentials.isPresent() && !anonymousCanRead(digest) ? image.name() : null);
      }
    }

    /**
     * Whether the registry serves the manifest to anyone: asked without credentials, after a read
     * with them, to learn whether the image is private. Anything but a 200 (refused, hidden as not
     * found, unreachable) counts as private: a wrong "private" costs a registry request per
     * publish, a wrong "public" would hand the image to pods without access.
     */
    private boolean anonymousCanRead(Digest digest) {
      Repository anonymous = new Repository(image, Optional.empty());
      try {
        anonymous.checkManifest(digest);
        return true;
      } catch (IOException e) {
        return false;
      }
    }

    /**
     * The digest of the manifest {@code tag} points at now, from a HEAD request (no body moves);
     * from a GET when the registry's answer does not say it.
     *
     * @throws RegistryException NOT_FOUND when the tag is gone, AUTHENTICATION_FAILED when refused,
     *     UNAVAILABLE when the registry cannot be reached, ...
     */
    public Digest currentDigest(String tag) throws IOException {
      HttpResponse<InputStream> response =
          send(
              "HEAD",
              api("/manifests/" + tag),
              b -> b.header("Accept", String.join(", ", MediaTypes.MANIFESTS)));
      Optional<String> claimed;
      try (InputStream body = response.body()) {
        if (response.statusCode() != 200) {
          throw failure(response, body, "manifest " + tag);
        }
        claimed = response.headers().firstValue("Docker-Content-Digest");
      }
      if (claimed.isPresent()) {
        try {
          Digest digest = Digest.parse(claimed.get());
          resolved(image, tag, digest);
          return digest;
        } catch (IllegalArgumentException e) {
          // Not a sha256 digest this node can check: the manifest's own bytes say it.
        }
      }
      return fetchManifest(tag).digest();
    }

    /**
     * Checks that these credentials may read the manifest, with a HEAD request (no body moves).
     *
     * @throws RegistryException AUTHENTICATION_FAILED when refused, NOT_FOUND, UNAVAILABLE, ...
     */
    public void checkManifest(Digest digest) throws IOException {
      URI uri = api("/manifests/" + digest);
      HttpResponse<InputStream> response =
          send("HEAD", uri, b -> b.header("Accept", String.join(", ", MediaTypes.MANIFESTS)));
      try (InputStream body = response.body()) {
        if (response.statusCode() != 200) {
          throw failure(response, body, "manifest " + digest);
        }
      }
    }

    /**
     * Checks that these credentials may read the blob in this repository, with a HEAD request.
     *
     * @throws RegistryException AUTHENTICATION_FAILED when refused, NOT_FOUND, UNAVAILABLE, ...
     */
    public void checkBlob(Digest digest) throws IOException {
      HttpResponse<InputStream> response = send("HEAD", api("/blobs/" + digest), b -> {});
      try (InputStream body = response.body()) {
        if (response.statusCode() != 200) {
          throw failure(response, body, "blob " + digest);
        }
      }
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      HttpResponse<InputStream> response = send("GET", api("/blobs/" + digest), b -> {});
      if (response.statusCode() != 200) {
        try (InputStream body = response.body()) {
          throw failure(response, body, "blob " + digest);
        }
      }
      return response.body();
    }

    private URI api(String tail) {
      return URI.create(baseUri(image.registry()) + "/v2/" + image.repository() + tail);
    }

    /**
     * Sends a GET or HEAD, authenticating when challenged and following redirects; the caller reads
     * and closes the body.
     */
    private HttpResponse<InputStream> send(
        String method, URI uri, java.util.function.Consumer<HttpRequest.Builder> headers)
        throws IOException {
      Optional<String> problem = hosts.problem(image.registry());
      if (problem.isPresent()) {
        throw new RegistryException(
            Reason.UNAVAILABLE, image.registry(), -1, "not configured: " + problem.get());
      }
      CachedAuthorization cached = authorizations.get(authKey);
      String authorization = cached != null && cached.valid() ? cached.header() : null;
      HttpResponse<InputStream> response = get(method, uri, headers, authorization);
      if (response.statusCode() != 401) {
        return response;
      }
      List<AuthChallenge> challenges =
          parseChallenges(image.registry(), response.headers().allValues("WWW-Authenticate"));
      response.body().close();
      authorization = authenticate(challenges);
      response = get(method, uri, headers, authorization);
      if (response.statusCode() == 401 || response.statusCode() == 403) {
        authorizations.remove(authKey);
      }
      return response;
    }

    private HttpResponse<InputStream> get(
        String method,
        URI uri,
        java.util.function.Consumer<HttpRequest.Builder> headers,
        String authorization)
        throws IOException {
      URI current = uri;
      for (int hop = 0; ; hop++) {
        HttpRequest.Builder b =
            HttpRequest.newBuilder(current)
                .timeout(requestTimeout)
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (current.getScheme().equals("http")) {
          b.version(HttpClient.Version.HTTP_1_1);
        }
        headers.accept(b);
        // Credentials go only to the registry itself, never to a storage host it redirects to.
        if (authorization != null && sameOrigin(current, uri)) {
          b.header("Authorization", authorization);
        }
        HttpResponse<InputStream> response =
            call(() -> describe(), b.build(), HttpResponse.BodyHandlers.ofInputStream());
        int status = response.statusCode();
        if (status < 300 || status >= 400 || status == 304) {
          return response;
        }
        response.body().close();
        Optional<String> location = response.headers().firstValue("Location");
        if (location.isEmpty() || hop >= MAX_REDIRECTS) {
          throw new RegistryException(
              Reason.PROTOCOL,
              image.registry(),
              status,
              location.isEmpty()
                  ? "redirect without a Location header for " + current
                  : "more than " + MAX_REDIRECTS + " redirects for " + uri);
        }
        URI next = current.resolve(location.get());
        if (current.getScheme().equals("https") && !next.getScheme().equals("https")) {
          throw new RegistryException(
              Reason.PROTOCOL,
              image.registry(),
              status,
              "refusing a redirect from https to " + next);
        }
        current = next;
      }
    }

    /** Answers the challenges of a 401: Bearer through the token service, or Basic. */
    private String authenticate(List<AuthChallenge> challenges) throws IOException {
      AuthChallenge bearer = find(challenges, "bearer");
      AuthChallenge basic = find(challenges, "basic");
      String header;
      Duration lifetime;
      if (bearer != null) {
        Token token = fetchToken(bearer);
        header = "Bearer " + token.value();
        lifetime = token.lifetime();
      } else if (basic != null) {
        Credentials c =
            credentials.orElseThrow(
                () ->
                    new RegistryException(
                        Reason.AUTHENTICATION_FAILED,
                        image.registry(),
                        401,
                        "the registry answered 401: it asks for credentials (Basic), and none"
                            + " were given"));
        header = basicHeader(c);
        lifetime = Duration.ofDays(365);
      } else {
        throw new RegistryException(
            Reason.AUTHENTICATION_FAILED,
            image.registry(),
            401,
            "authentication failed: the registry answered 401 without a Bearer or Basic challenge");
      }
      authorizations.put(authKey, new CachedAuthorization(header, Instant.now().plus(lifetime)));
      return header;
    }

    private Token fetchToken(AuthChallenge challenge) throws IOException {
      String realm = challenge.param("realm");
      if (realm == null || realm.isBlank()) {
        throw new RegistryException(
            Reason.PROTOCOL, image.registry(), 401, "the Bearer challenge has no realm");
      }
      URI realmUri;
      try {
        realmUri = URI.create(realm);
      } catch (IllegalArgumentException e) {
        throw new RegistryException(
            Reason.PROTOCOL, image.registry(), 401, "the Bearer realm \"" + realm + "\" is no URL");
      }
      if (!"https".equals(realmUri.getScheme())
          && !("http".equals(realmUri.getScheme())
              && realmUri.getRawAuthority() != null
              && usesPlainHttp(realmUri.getRawAuthority()))) {
        throw new RegistryException(
            Reason.PROTOCOL,
            image.registry(),
            401,
            "refusing to send credentials to the token service " + realm + " over plain http");
      }
      String scope =
          Optional.ofNullable(challenge.param("scope"))
              .orElse("repository:" + image.repository() + ":pull");
      StringBuilder query = new StringBuilder();
      if (challenge.param("service") != null) {
        query.append("service=").append(encode(challenge.param("service"))).append('&');
      }
      query.append("scope=").append(encode(scope));
      URI tokenUri = URI.create(realm + (realm.contains("?") ? "&" : "?") + query);
      HttpRequest.Builder b = HttpRequest.newBuilder(tokenUri).timeout(requestTimeout).GET();
      if (tokenUri.getScheme().equals("http")) {
        b.version(HttpClient.Version.HTTP_1_1);
      }
      credentials.ifPresent(c -> b.header("Authorization", basicHeader(c)));
      HttpResponse<InputStream> response =
          call(
              () -> "token service " + realm + " for " + image.registry(),
              b.build(),
              HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream body = response.body()) {
        int status = response.statusCode();
        if (status == 401 || status == 403) {
          throw new RegistryException(
              Reason.AUTHENTICATION_FAILED,
              image.registry(),
              status,
              "authentication failed "
                  + who()
                  + ": the token service "
                  + realm
                  + " answered "
                  + status
                  + errorDetail(body));
        }
        if (status != 200) {
          throw new RegistryException(
              status >= 500 || status == 429 ? Reason.UNAVAILABLE : Reason.PROTOCOL,
              image.registry(),
              status,
              "the token service " + realm + " answered " + status + errorDetail(body));
        }
        var json = ManifestDocument.Json.MAPPER.readTree(body.readNBytes(MAX_TOKEN_BODY));
        String token = json == null ? "" : json.path("token").asText("");
        if (token.isEmpty() && json != null) {
          token = json.path("access_token").asText("");
        }
        if (token.isEmpty()) {
          throw new RegistryException(
              Reason.PROTOCOL,
              image.registry(),
              status,
              "the token service " + realm + " answered without a token");
        }
        long seconds = json.path("expires_in").asLong(DEFAULT_TOKEN_LIFETIME.toSeconds());
        // Renew a little early so that a token does not expire between check and use.
        return new Token(token, Duration.ofSeconds(Math.max(10, seconds) - 5));
      }
    }

    /** Turns a non-2xx answer into an error that names the registry and what was asked. */
    private RegistryException failure(
        HttpResponse<InputStream> response, InputStream body, String what) throws IOException {
      int status = response.statusCode();
      String detail = errorDetail(body);
      return switch (status) {
        case 401, 403 ->
            new RegistryException(
                Reason.AUTHENTICATION_FAILED,
                image.registry(),
                status,
                "authentication failed "
                    + who()
                    + ": "
                    + status
                    + " for "
                    + what
                    + " of "
                    + image.repository()
                    + detail);
        case 404 ->
            new RegistryException(
                Reason.NOT_FOUND,
                image.registry(),
                status,
                what + " of " + image.repository() + " not found" + detail);
        default ->
            new RegistryException(
                status >= 500 || status == 429 ? Reason.UNAVAILABLE : Reason.PROTOCOL,
                image.registry(),
                status,
                "unexpected status " + status + " for " + what + detail);
      };
    }

    private String who() {
      return credentials.map(c -> "for user \"" + c.username() + "\"").orElse("(anonymous)");
    }

    @Override
    public String toString() {
      return describe();
    }
  }

  /** Sends a request, turning transport failures into UNAVAILABLE errors naming the target. */
  private <T> HttpResponse<T> call(
      Supplier<String> target, HttpRequest request, HttpResponse.BodyHandler<T> handler)
      throws IOException {
    // Every request, redirect hop and token request: the address is what a pod cannot choose.
    allowed.check(target.get(), request.uri());
    try {
      return clientFor(request.uri()).send(request, handler);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while calling " + target.get());
    } catch (ConnectException | HttpTimeoutException e) {
      throw new RegistryException(
          Reason.UNAVAILABLE,
          target.get(),
          "could not be reached at " + request.uri() + ": " + e,
          e);
    } catch (IOException e) {
      throw new RegistryException(
          Reason.UNAVAILABLE, target.get(), "request " + request.uri() + " failed: " + e, e);
    }
  }

  /** The HTTP client for a request's host: the registry's own TLS trust when it has one. */
  private HttpClient clientFor(URI uri) throws IOException {
    Optional<RegistryHosts.Host> host =
        uri.getRawAuthority() == null ? Optional.empty() : hosts.forServer(uri.getRawAuthority());
    if (host.isEmpty() || (host.get().caFiles().isEmpty() && !host.get().skipVerify())) {
      return http;
    }
    HttpClient client = tlsClients.get(uri.getRawAuthority());
    if (client == null) {
      client = newHttpClient(RegistryTls.context(host.get()));
      tlsClients.put(uri.getRawAuthority(), client);
    }
    return client;
  }

  static List<AuthChallenge> parseChallenges(String registry, List<String> headers)
      throws RegistryException {
    List<AuthChallenge> result = new java.util.ArrayList<>();
    for (String h : headers) {
      try {
        result.addAll(AuthChallenge.parse(h));
      } catch (IllegalArgumentException e) {
        throw new RegistryException(Reason.PROTOCOL, registry, 401, e.getMessage());
      }
    }
    return result;
  }

  private static AuthChallenge find(List<AuthChallenge> challenges, String scheme) {
    return challenges.stream().filter(c -> c.scheme().equals(scheme)).findFirst().orElse(null);
  }

  /** The OCI error body's first code and message, when there is one, for the error text. */
  static String errorDetail(InputStream body) {
    try {
      byte[] bytes = body.readNBytes(MAX_ERROR_BODY);
      var json = ManifestDocument.Json.MAPPER.readTree(bytes);
      if (json != null) {
        var first = json.path("errors").path(0);
        if (first.has("code")) {
          return " (" + first.path("code").asText() + ": " + first.path("message").asText() + ")";
        }
        if (json.has("details")) {
          return " (" + json.path("details").asText() + ")";
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not JSON: the status alone has to do.
    }
    return "";
  }

  private static boolean sameOrigin(URI a, URI b) {
    return a.getScheme().equals(b.getScheme())
        && String.valueOf(a.getRawAuthority())
            .toLowerCase(Locale.ROOT)
            .equals(String.valueOf(b.getRawAuthority()).toLowerCase(Locale.ROOT));
  }

  private static String basicHeader(Credentials c) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((c.username() + ":" + c.password()).getBytes(StandardCharsets.UTF_8));
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** Tokens are cached per credentials, so one pod's token never serves another's pull. */
  private static String fingerprint(Optional<Credentials> credentials) {
    return credentials.map(Credentials::fingerprint).orElse("anonymous");
  }

  private record Token(String value, Duration lifetime) {}

  private record CachedAuthorization(String header, Instant expires) {
    boolean valid() {
      return Instant.now().isBefore(expires);
    }
  }
}
