package io.layerns.csi.registry;

/**
 * A user name and password (or token) for one registry.
 *
 * @param username the user name
 * @param password the password or access token; never logged
 */
public record Credentials(String username, String password) {

  /** A hex string that tells credentials apart without holding the password (cache keys). */
  public String fingerprint() {
    return io.layerns.csi.store.Digest.of(
            (username + "\0" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8))
        .hex();
  }

  @Override
  public String toString() {
    return "Credentials[username=" + username + ", password=***]";
  }
}
