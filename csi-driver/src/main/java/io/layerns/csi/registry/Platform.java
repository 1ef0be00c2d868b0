package io.layerns.csi.registry;

import java.util.Locale;

/**
 * The platform an image runs on, as image indexes describe it; the node agent picks the manifest
 * for its own platform from an index.
 *
 * @param os the operating system, e.g. {@code linux}
 * @param architecture the CPU architecture in Go's naming, e.g. {@code amd64} or {@code arm64}
 * @param variant the CPU variant, e.g. {@code v8}, or null when not given
 */
public record Platform(String os, String architecture, String variant) {
  /** The default node platform. */
  public static final Platform LINUX_AMD64 = new Platform("linux", "amd64", null);

  public Platform {
    if (os == null || os.isBlank() || architecture == null || architecture.isBlank()) {
      throw new IllegalArgumentException("a platform needs an os and an architecture");
    }
    if (variant != null && variant.isBlank()) {
      variant = null;
    }
  }

  /**
   * Parses {@code os/architecture[/variant]}, e.g. {@code linux/arm64/v8}.
   *
   * @throws IllegalArgumentException when it is not of that form
   */
  public static Platform parse(String text) {
    String[] parts = text == null ? new String[0] : text.split("/", -1);
    if (parts.length < 2 || parts.length > 3) {
      throw new IllegalArgumentException(
          "platform \"" + text + "\" is not of the form os/architecture[/variant]");
    }
    for (String p : parts) {
      if (!p.matches("[a-z0-9._-]+")) {
        throw new IllegalArgumentException(
            "platform \"" + text + "\" has an empty or malformed part \"" + p + "\"");
      }
    }
    return new Platform(parts[0], parts[1], parts.length == 3 ? parts[2] : null);
  }

  /** The platform of the running JVM, mapped to Go's architecture names. */
  public static Platform ofThisMachine() {
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    return switch (arch) {
      case "amd64", "x86_64" -> LINUX_AMD64;
      case "aarch64", "arm64" -> new Platform("linux", "arm64", null);
      case "ppc64le" -> new Platform("linux", "ppc64le", null);
      case "s390x" -> new Platform("linux", "s390x", null);
      case "riscv64" -> new Platform("linux", "riscv64", null);
      default -> new Platform("linux", arch, null);
    };
  }

  /**
   * Whether an index entry with this platform can run on {@code node}: same os and architecture,
   * and the same variant once defaults are applied ({@code arm64} means {@code v8}, {@code arm}
   * means {@code v7}); a node without a variant accepts any.
   */
  public boolean runsOn(Platform node) {
    if (!os.equals(node.os) || !architecture.equals(node.architecture)) {
      return false;
    }
    String wanted = node.normalizedVariant();
    return wanted == null || wanted.equals(normalizedVariant());
  }

  /** The variant with the architecture's default filled in, or null when it has none. */
  String normalizedVariant() {
    if (variant != null) {
      return variant;
    }
    return switch (architecture) {
      case "arm64" -> "v8";
      case "arm" -> "v7";
      default -> null;
    };
  }

  @Override
  public String toString() {
    return os + "/" + architecture + (variant != null ? "/" + variant : "");
  }
}
