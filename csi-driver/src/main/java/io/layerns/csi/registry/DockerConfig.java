package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Registry credentials from a {@code kubernetes.io/dockerconfigjson} Secret: its {@code
 * .dockerconfigjson} key holds {@code {"auths": {"host": {"auth": base64(user:pass)}}}} or the same
 * with {@code username} and {@code password}.
 */
public final class DockerConfig {
  /** The Secret data key of a {@code kubernetes.io/dockerconfigjson} Secret. */
  public static final String SECRET_KEY = ".dockerconfigjson";

  /** No credentials: every registry is accessed anonymously. */
  public static final DockerConfig EMPTY = new DockerConfig(Map.of());

  private final Map<String, Credentials> byRegistry;

  private DockerConfig(Map<String, Credentials> byRegistry) {
    this.byRegistry = Map.copyOf(byRegistry);
  }

  /** The credentials {@code credentials} for the one registry {@code registry}. */
  public static DockerConfig of(String registry, Credentials credentials) {
    return new DockerConfig(Map.of(normalize(registry), credentials));
  }

  /**
   * Reads the {@code .dockerconfigjson} entry of a Secret's data, given as text (CSI passes secrets
   * decoded).
   *
   * @throws IllegalArgumentException when the key is missing or its content is malformed
   */
  public static DockerConfig fromSecret(Map<String, String> secretData) {
    String json = secretData.get(SECRET_KEY);
    if (json == null) {
      throw new IllegalArgumentException(
          "the secret has no " + SECRET_KEY + " key (keys: " + secretData.keySet() + ")");
    }
    return parse(json);
  }

  /**
   * Parses a {@code .dockerconfigjson} document.
   *
   * @throws IllegalArgumentException naming the entry that is malformed; never quoting a secret
   */
  public static DockerConfig parse(String json) {
    JsonNode root;
    try {
      root = ManifestDocument.Json.MAPPER.readTree(json);
    } catch (IOException e) {
      // The parser's message may quote the content, which holds secrets.
      throw new IllegalArgumentException(SECRET_KEY + " is not valid JSON");
    }
    if (root == null || !root.path("auths").isObject()) {
      throw new IllegalArgumentException(SECRET_KEY + " has no \"auths\" object");
    }
    Map<String, Credentials> result = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : root.get("auths").properties()) {
      String registry = normalize(e.getKey());
      JsonNode entry = e.getValue();
      String username = entry.path("username").asText("");
      String password = entry.path("password").asText("");
      String auth = entry.path("auth").asText("");
      if (!auth.isEmpty()) {
        String decoded;
        try {
          decoded = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException bad) {
          throw new IllegalArgumentException(
              SECRET_KEY + " entry \"" + e.getKey() + "\": \"auth\" is not valid base64");
        }
        int colon = decoded.indexOf(':');
        if (colon < 0) {
          throw new IllegalArgumentException(
              SECRET_KEY
                  + " entry \""
                  + e.getKey()
                  + "\": \"auth\" is not base64 of user:password");
        }
        username = decoded.substring(0, colon);
        password = decoded.substring(colon + 1);
      }
      if (username.isEmpty() && password.isEmpty()) {
        throw new IllegalArgumentException(
            SECRET_KEY
                + " entry \""
                + e.getKey()
                + "\" has neither \"auth\" nor \"username\" and \"password\"");
      }
      result.put(registry, new Credentials(username, password));
    }
    return new DockerConfig(result);
  }

  /** The credentials for a registry host (as in an {@link ImageReference}), if any. */
  public Optional<Credentials> credentialsFor(String registry) {
    return Optional.ofNullable(byRegistry.get(normalize(registry)));
  }

  /** The registries that have credentials, normalized. */
  public java.util.Set<String> registries() {
    return byRegistry.keySet();
  }

  /**
   * Reduces an {@code auths} key to a host[:port]: keys may be URLs ({@code
   * https://index.docker.io/v1/}) and Docker Hub has several names.
   */
  static String normalize(String key) {
    String host = key.trim();
    if (host.contains("://")) {
      URI uri = URI.create(host);
      host = uri.getRawAuthority() != null ? uri.getRawAuthority() : host;
    } else {
      int slash = host.indexOf('/');
      if (slash >= 0) {
        host = host.substring(0, slash);
      }
    }
    host = host.toLowerCase(java.util.Locale.ROOT);
    return switch (host) {
      case "index.docker.io", "registry-1.docker.io" -> ImageReference.DOCKER_HUB;
      default -> host;
    };
  }

  @Override
  public String toString() {
    return "DockerConfig" + byRegistry.keySet();
  }
}
