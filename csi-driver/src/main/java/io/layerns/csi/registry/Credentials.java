package io.layerns.csi.registry;

/**
 * A user name and password (or token) for one registry.
 *
 * @param username the user name
 * @param password the password or access token; never logged
 */
public record Credentials(String username, String password) {
  @Override
  public String toString() {
    return "Credentials[username=" + username + ", password=***]";
  }
}
