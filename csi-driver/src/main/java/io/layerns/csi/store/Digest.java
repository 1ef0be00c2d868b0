package io.layerns.csi.store;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest such as {@code sha256:0123...}; the only algorithm accepted is sha256, which is
 * what every OCI registry and image builder uses.
 *
 * @param hex the 64 lower-case hex digits
 */
public record Digest(String hex) {
  private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");
  private static final String PREFIX = "sha256:";

  public Digest {
    if (hex == null || !HEX.matcher(hex).matches()) {
      throw new IllegalArgumentException("not a sha256 digest: " + hex);
    }
  }

  /** Parses {@code sha256:<64 hex digits>}. */
  public static Digest parse(String digest) {
    if (digest == null || !digest.startsWith(PREFIX)) {
      throw new IllegalArgumentException("not a sha256 digest: " + digest);
    }
    return new Digest(digest.substring(PREFIX.length()));
  }

  /** The digest of the given bytes. */
  public static Digest of(byte[] content) {
    return ofHash(newSha256().digest(content));
  }

  static Digest of(MessageDigest finished) {
    return ofHash(finished.digest());
  }

  private static Digest ofHash(byte[] sha256) {
    return new Digest(HexFormat.of().formatHex(sha256));
  }

  static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  @Override
  public String toString() {
    return PREFIX + hex;
  }
}
