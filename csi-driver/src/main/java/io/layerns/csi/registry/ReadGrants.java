package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Asks a registry whether some credentials may read a private piece, with a {@code HEAD} by digest
 * (no body moves), and remembers each yes for a while: what lets both the CSI side ({@code
 * node.ImageAccess}) and containerd's mirror hand out private content without asking the registry
 * for every piece, while a revoked pull secret stops working within the time a yes stands.
 */
public final class ReadGrants {
  private static final int MAX_CACHED = 10_000;

  private final Duration ttl;
  private final Clock clock;
  private final Map<String, Instant> granted = new ConcurrentHashMap<>();

  /**
   * @param ttl how long a yes stands
   */
  public ReadGrants(Duration ttl, Clock clock) {
    this.ttl = ttl;
    this.clock = clock;
  }

  /**
   * Whether {@code repository}'s credentials read {@code digest} there: a yes remembered under
   * {@code key} (which must tell the credentials apart, see {@link Credentials#fingerprint}), else
   * the registry's answer now. A no goes into {@code refusals} (refused, or not there) or {@code
   * unreachable} (the registry could not say), with the registry's message.
   *
   * @param manifest whether to ask for the piece as a manifest (else as a blob)
   */
  public boolean check(
      String key,
      RegistryClient.Repository repository,
      Digest digest,
      boolean manifest,
      List<String> refusals,
      List<String> unreachable)
      throws IOException {
    Instant until = granted.get(key);
    if (until != null && clock.instant().isBefore(until)) {
      return true;
    }
    String name = repository.repository().orElse(repository.describe());
    try {
      if (manifest) {
        repository.checkManifest(digest);
      } else {
        repository.checkBlob(digest);
      }
    } catch (RegistryException e) {
      if (e.reason() == RegistryException.Reason.AUTHENTICATION_FAILED
          || e.reason() == RegistryException.Reason.NOT_FOUND) {
        refusals.add(name + ": " + e.getMessage());
      } else {
        unreachable.add(name + ": " + e.getMessage());
      }
      return false;
    }
    Instant now = clock.instant();
    if (granted.size() >= MAX_CACHED) {
      granted.values().removeIf(t -> !now.isBefore(t));
    }
    granted.put(key, now.plus(ttl));
    return true;
  }
}
