package io.layerns.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The {@code config.yml} of Debian's {@code docker-registry} as the tests run it: filesystem
 * storage in one folder, no upload purging (a test's uploads are short), one listen address; and
 * the pieces of a registry that asks for a user and password (HTTP Basic, htpasswd).
 */
public final class RegistryConfig {
  /** Debian's registry binary. */
  public static final Path BINARY = Path.of("/usr/bin/docker-registry");

  private RegistryConfig() {}

  /**
   * Writes {@code dir/config.yml}.
   *
   * @param httpExtra YAML lines inside {@code http:} (indented two spaces, e.g. a tls block), or
   *     empty
   * @param extra top-level YAML lines (e.g. an auth block), or empty
   */
  public static Path write(Path dir, Path storage, String address, String httpExtra, String extra)
      throws IOException {
    Path config = dir.resolve("config.yml");
    Files.writeString(
        config,
        """
        version: 0.1
        log:
          level: info
        storage:
          filesystem:
            rootdirectory: %s
          maintenance:
            uploadpurging:
              enabled: false
        http:
          addr: %s
          secret: layerns-test
        """
                .formatted(storage, address)
            + httpExtra
            + extra);
    return config;
  }

  /**
   * The top-level {@code auth:} block (for {@link #write}'s {@code extra}) of a registry that
   * answers 401 with a Basic challenge to anyone not in {@code htpasswd}.
   */
  public static String htpasswdAuth(Path htpasswd) {
    return """
        auth:
          htpasswd:
            realm: layerns-test
            path: %s
        """
        .formatted(htpasswd);
  }

  /**
   * Writes {@code file} with one user, made by Apache's {@code htpasswd} (Debian apache2-utils):
   * the registry accepts bcrypt hashes only. Cost 4, the least bcrypt allows, since the registry
   * checks the hash on every request.
   */
  public static Path writeHtpasswd(Path file, String user, String password) throws IOException {
    Path tool = Path.of("/usr/bin/htpasswd");
    if (!Files.isExecutable(tool)) {
      throw new IllegalStateException(tool + " is missing (apache2-utils): run `make deps` first");
    }
    Process p =
        new ProcessBuilder(tool.toString(), "-nbB", "-C", "4", user, password)
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException("htpasswd failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running htpasswd", e);
    }
    Files.writeString(file, out.strip() + "\n");
    return file;
  }
}
