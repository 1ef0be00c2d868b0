package io.layerns.csi.mirror;

import io.layerns.csi.registry.Credentials;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.ReadGrants;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Whether a mirror request may have a private piece (a manifest, config or layer that some registry
 * served this node or a member only with credentials): only when it shows, in its {@code
 * Authorization} header, Basic credentials that the upstream registry accepts for a repository
 * known to hold that piece. The registry is asked with a HEAD of the piece by digest in that
 * repository; a yes is remembered for {@link #TTL} per (credentials, repository), since a registry
 * grants pulls per repository. The credentials count only for the registry the request names
 * ({@code ?ns=}): containerd sends a registry's credentials to its mirror for that registry only.
 */
final class MirrorAccess {

  /** How long a registry's yes stands: a revoked pull secret stops the mirror within this time. */
  static final Duration TTL = Duration.ofSeconds(60);

  /** The answer for one request. */
  sealed interface Verdict {}

  /** No credentials shown, or not Basic ones: the client is challenged (401). */
  record NoCredentials() implements Verdict {}

  /** The registry accepted them for a repository holding the piece. */
  record Granted(String repository) implements Verdict {}

  /** The registry refused them, or no holder is on the registry the request names (401). */
  record Refused(String why) implements Verdict {}

  /** No holder's registry could be asked: nothing is served (404, containerd asks upstream). */
  record Unreachable(String why) implements Verdict {}

  private final RegistryClient registry;
  private final ReadGrants grants;

  MirrorAccess(RegistryClient registry, Clock clock) {
    this.registry = registry;
    this.grants = new ReadGrants(TTL, clock);
  }

  /**
   * @param holders the repositories ({@code registry/repository}) known to hold the piece privately
   * @param upstream the registry the request names ({@code ?ns=}), or null
   * @param asked the repository the request names, {@code registry/repository}, or null
   * @param manifest whether the piece is asked for as a manifest (else as a blob)
   * @param authorization the request's {@code Authorization} header, or null
   */
  Verdict check(
      Set<String> holders,
      String upstream,
      String asked,
      Digest digest,
      boolean manifest,
      String authorization)
      throws IOException {
    Optional<Credentials> credentials = basic(authorization);
    if (credentials.isEmpty()) {
      return new NoCredentials();
    }
    List<String> order = new ArrayList<>();
    if (asked != null && holders.contains(asked)) {
      order.add(asked);
    }
    for (String h : holders) {
      if (!h.equals(asked) && upstream != null && registryOf(h).equals(upstream)) {
        order.add(h);
      }
    }
    if (order.isEmpty()) {
      return new Refused(
          "the piece is private to "
              + holders
              + ", none on "
              + (upstream == null ? "the registry the request names (no ?ns=)" : upstream));
    }
    String who = credentials.get().fingerprint();
    List<String> refusals = new ArrayList<>();
    List<String> unreachable = new ArrayList<>();
    for (String repository : order) {
      // A registry grants pulls per repository: a yes for one piece stands for the others.
      if (grants.check(
          who + "|" + repository,
          registry.repository(
              ImageReference.parse(repository + "@" + digest),
              DockerConfig.of(upstream, credentials.get())),
          digest,
          manifest,
          refusals,
          unreachable)) {
        return new Granted(repository);
      }
    }
    return refusals.isEmpty()
        ? new Unreachable(String.join("; ", unreachable))
        : new Refused(String.join("; ", refusals));
  }

  private static String registryOf(String repository) {
    try {
      return ImageReference.parse(repository + ":x").registry();
    } catch (IllegalArgumentException e) {
      return "";
    }
  }

  /** The Basic credentials of an {@code Authorization} header; empty for none or another scheme. */
  static Optional<Credentials> basic(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
      return Optional.empty();
    }
    String decoded;
    try {
      decoded =
          new String(
              Base64.getDecoder().decode(authorization.substring(6).trim()),
              StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
    int colon = decoded.indexOf(':');
    if (colon < 0) {
      return Optional.empty();
    }
    return Optional.of(new Credentials(decoded.substring(0, colon), decoded.substring(colon + 1)));
  }
}
