package io.layerns.csi.transport;

import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.identity.PeerKeys;
import java.net.URI;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Map;
import java.util.Optional;

/**
 * Node key pairs for tests that run exports and their clients in one process. Not in the identity
 * package: a test class loaded from there first would define that package without the jar's
 * manifest, and {@code IdentityService.jarVersion()} would answer "unknown" (CsiSanityIT).
 */
public final class TestNodeKeys {
  private TestNodeKeys() {}

  /** A fresh ECDSA P-256 pair, the kind {@link NodeKey} makes. */
  public static KeyPair generate() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The keys of exports by their base URL, as their members would publish them. */
  public static PeerKeys published(Map<URI, KeyPair> exports) {
    return (host, port) ->
        exports.entrySet().stream()
            .filter(e -> e.getKey().getHost().equals(host) && e.getKey().getPort() == port)
            .map(e -> (PublicKey) e.getValue().getPublic())
            .findFirst()
            .or(Optional::empty);
  }
}
