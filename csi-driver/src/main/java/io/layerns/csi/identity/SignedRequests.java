package io.layerns.csi.identity;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import org.apache.sshd.common.config.keys.PublicKeyEntry;

/**
 * Requests to a peer's HTTP export signed with the asking node's own key ({@link NodeKey}), so that
 * the export serves member nodes, not whoever comes from a member's address (a pod behind the
 * node's masquerading CNI, say). The signature covers the method, the raw path and query and the
 * time; the export accepts it within {@link #MAX_SKEW} of its own clock, with a key a member
 * published. A request replayed within that window by someone who saw it gets the same bytes the
 * sniffer already saw: the export is read-only and content-addressed.
 */
public final class SignedRequests {

  /** The signer's public key, in OpenSSH form. */
  public static final String KEY_HEADER = "X-Layerns-Node-Key";

  /** When it was signed, in seconds since the epoch. */
  public static final String TIME_HEADER = "X-Layerns-Time";

  /** Base64 of the signature over {@link #payload}. */
  public static final String SIGNATURE_HEADER = "X-Layerns-Signature";

  /** How far a request's time may be from the export's clock, either way. */
  public static final Duration MAX_SKEW = Duration.ofMinutes(5);

  private SignedRequests() {}

  /** The three headers that sign {@code method} of {@code rawPathAndQuery} at {@code now}. */
  public static Map<String, String> headers(
      KeyPair key, String method, String rawPathAndQuery, Instant now) {
    String time = Long.toString(now.getEpochSecond());
    try {
      Signature s = Signature.getInstance(algorithm(key.getPublic()));
      s.initSign((PrivateKey) key.getPrivate());
      s.update(payload(method, rawPathAndQuery, time));
      return Map.of(
          KEY_HEADER,
          PublicKeyEntry.toString(key.getPublic()),
          TIME_HEADER,
          time,
          SIGNATURE_HEADER,
          Base64.getEncoder().encodeToString(s.sign()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot sign with the node key: " + e, e);
    }
  }

  /**
   * Why a request is not signed by one of {@code members}, or null when it is.
   *
   * @param key, time, signature the request's three headers (null when missing)
   */
  public static String refusal(
      String method,
      String rawPathAndQuery,
      String key,
      String time,
      String signature,
      Set<PublicKey> members,
      Instant now) {
    if (key == null || time == null || signature == null) {
      return "the request is not signed by a member node (" + KEY_HEADER + " missing)";
    }
    PublicKey signer;
    try {
      signer = NodeKey.parsePublicKey(key);
    } catch (IllegalArgumentException e) {
      return "the request's " + KEY_HEADER + " is not a key: " + e.getMessage();
    }
    String canonical = PublicKeyEntry.toString(signer);
    if (members.stream().map(PublicKeyEntry::toString).noneMatch(canonical::equals)) {
      return "the request is signed by a key no member node published";
    }
    long seconds;
    try {
      seconds = Long.parseLong(time);
    } catch (NumberFormatException e) {
      return "the request's " + TIME_HEADER + " is not a number";
    }
    if (Math.abs(seconds - now.getEpochSecond()) > MAX_SKEW.toSeconds()) {
      return "the request was signed at "
          + Instant.ofEpochSecond(seconds)
          + ", more than "
          + MAX_SKEW.toMinutes()
          + " minutes from this node's clock ("
          + now
          + ")";
    }
    try {
      Signature s = Signature.getInstance(algorithm(signer));
      s.initVerify(signer);
      s.update(payload(method, rawPathAndQuery, time));
      if (!s.verify(Base64.getDecoder().decode(signature))) {
        return "the request's signature does not match its key";
      }
      return null;
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      return "the request's signature cannot be checked: " + e.getMessage();
    }
  }

  private static byte[] payload(String method, String rawPathAndQuery, String time) {
    return ("layerns-export-request-v1\n" + method + "\n" + rawPathAndQuery + "\n" + time)
        .getBytes(StandardCharsets.UTF_8);
  }

  private static String algorithm(PublicKey key) {
    return switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      default ->
          throw new IllegalArgumentException("no signature for keys of type " + key.getAlgorithm());
    };
  }
}
