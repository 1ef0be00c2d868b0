package io.layerns.csi.registry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A real, tiny Docker token service for tests: checks Basic credentials and issues RS256 JWTs
 * carrying their certificate in {@code x5c}, which a registry trusts through its {@code
 * rootcertbundle}. The key and certificate come from the {@code openssl} command line.
 */
public final class TokenServer implements AutoCloseable {
  public static final String ISSUER = "layerns-test-issuer";
  public static final String SERVICE = "layerns-test-registry";

  private final Map<String, String> users;
  private final PrivateKey key;
  private final X509Certificate certificate;
  private final Path certificateFile;
  private final HttpServer server;

  /** What each token request asked for: "user scope" (user "-" when anonymous). */
  private final List<String> requests = new CopyOnWriteArrayList<>();

  private TokenServer(Map<String, String> users, Path dir) throws Exception {
    this.users = Map.copyOf(users);
    Path keyFile = dir.resolve("token.key");
    certificateFile = dir.resolve("token.crt");
    Process openssl =
        new ProcessBuilder(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                keyFile.toString(),
                "-out",
                certificateFile.toString(),
                "-days",
                "2",
                "-subj",
                "/CN=" + ISSUER)
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("openssl.log").toFile())
            .start();
    if (!openssl.waitFor(60, TimeUnit.SECONDS) || openssl.exitValue() != 0) {
      throw new IOException("openssl failed: " + Files.readString(dir.resolve("openssl.log")));
    }
    String pem = Files.readString(keyFile).replaceAll("-----[A-Z ]+-----|\\s", "");
    key =
        KeyFactory.getInstance("RSA")
            .generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
    try (var in = Files.newInputStream(certificateFile)) {
      certificate =
          (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.createContext("/token", this::token);
    server.start();
  }

  /**
   * Starts a token service for {@code users} (name to password), keeping its files in {@code dir}.
   */
  public static TokenServer start(Map<String, String> users, Path dir) throws Exception {
    return new TokenServer(users, dir);
  }

  public URI realm() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/token");
  }

  /** The certificate a registry must trust, PEM. */
  public Path certificateFile() {
    return certificateFile;
  }

  public List<String> requests() {
    return List.copyOf(requests);
  }

  /** A token for {@code user} granting the actions of {@code scope}, for the test's own pushes. */
  public String issue(String user, String scope) throws Exception {
    return jwt(user, List.of(scope));
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private void token(HttpExchange exchange) throws IOException {
    try (exchange) {
      String user = "-";
      String header = exchange.getRequestHeaders().getFirst("Authorization");
      if (header != null) {
        String[] pair =
            new String(
                    Base64.getDecoder().decode(header.substring("Basic ".length())),
                    StandardCharsets.UTF_8)
                .split(":", 2);
        if (!pair[1].equals(users.get(pair[0]))) {
          requests.add(pair[0] + " rejected");
          send(exchange, 401, "{\"details\":\"incorrect username or password\"}");
          return;
        }
        user = pair[0];
      }
      List<String> scopes = new ArrayList<>();
      String query = exchange.getRequestURI().getRawQuery();
      for (String param : query == null ? new String[0] : query.split("&")) {
        String[] kv = param.split("=", 2);
        if (kv[0].equals("scope")) {
          scopes.add(URLDecoder.decode(kv[1], StandardCharsets.UTF_8));
        }
      }
      requests.add(user + " " + String.join(" ", scopes));
      // Anonymous users get a token without access, as real token services do.
      String token = jwt(user, user.equals("-") ? List.of() : scopes);
      send(exchange, 200, "{\"token\":\"" + token + "\",\"expires_in\":300}");
    } catch (Exception e) {
      throw new IOException(e);
    }
  }

  private String jwt(String user, List<String> scopes) throws Exception {
    String access =
        scopes.stream()
            .map(s -> s.split(":"))
            .map(
                s ->
                    "{\"type\":\"%s\",\"name\":\"%s\",\"actions\":[%s]}"
                        .formatted(
                            s[0],
                            s[1],
                            java.util.Arrays.stream(s[2].split(","))
                                .map(a -> "\"" + a + "\"")
                                .collect(Collectors.joining(","))))
            .collect(Collectors.joining(","));
    long now = Instant.now().getEpochSecond();
    String headerJson =
        "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5c\":[\""
            + Base64.getEncoder().encodeToString(certificate.getEncoded())
            + "\"]}";
    String claims =
        ("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%d,\"nbf\":%d,\"iat\":%d,"
                + "\"jti\":\"%s\",\"access\":[%s]}")
            .formatted(ISSUER, user, SERVICE, now + 300, now - 10, now, UUID.randomUUID(), access);
    Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
    String signingInput =
        b64.encodeToString(headerJson.getBytes(StandardCharsets.UTF_8))
            + "."
            + b64.encodeToString(claims.getBytes(StandardCharsets.UTF_8));
    Signature rsa = Signature.getInstance("SHA256withRSA");
    rsa.initSign(key);
    rsa.update(signingInput.getBytes(StandardCharsets.US_ASCII));
    return signingInput + "." + b64.encodeToString(rsa.sign());
  }

  private static void send(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }
}
