package io.layerns.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The {@code config.yml} of Debian's {@code docker-registry} as the tests run it: filesystem
 * storage in one folder, no upload purging (a test's uploads are short), one listen address.
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
}
