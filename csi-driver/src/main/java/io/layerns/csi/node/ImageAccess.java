package io.layerns.csi.node;

import io.layerns.csi.registry.Credentials;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.registry.ResolvedImage;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tenant rule for images the node already holds: a pod may use a private image only if its own
 * pull secrets can read it from the registry, however the node came by the image (another pod's
 * pull, a peer, a preload). A public image needs no registry request at all.
 *
 * <p>Private means the registry served the manifest only with credentials (see {@link
 * PrivateImages}). For such an image, the pod's credentials must read the manifest by digest (a
 * HEAD) in a repository that holds it privately; a yes is remembered for {@link #DEFAULT_TTL} per
 * credentials, repository and digest, so a burst of pods costs one request. A registry that cannot
 * be reached is no yes: the volume fails, and the kubelet retries.
 */
public final class ImageAccess {

  private static final Logger LOG = LoggerFactory.getLogger(ImageAccess.class);

  /** How long a registry's yes stands: a revoked pull secret stops new volumes within this time. */
  public static final Duration DEFAULT_TTL = Duration.ofSeconds(60);

  private static final int MAX_CACHED = 10_000;

  /** The credentials a pod has for a registry host; empty config when none. */
  @FunctionalInterface
  public interface PodCredentials {
    DockerConfig forRegistry(String registry) throws IOException;
  }

  private final PrivateImages privateImages;
  private final RegistryClient registry;
  private final Duration ttl;
  private final Clock clock;
  private final Map<String, Instant> granted = new ConcurrentHashMap<>();

  public ImageAccess(
      PrivateImages privateImages, RegistryClient registry, Duration ttl, Clock clock) {
    this.privateImages = privateImages;
    this.registry = registry;
    this.ttl = ttl;
    this.clock = clock;
  }

  /**
   * Lets the pod use {@code image} or says why not.
   *
   * @param asked the image as the volume names it, for messages
   * @param credentials the pod's pull credentials, read only when the image is private
   * @param servedToPod manifests the registry has just served with these credentials (this publish
   *     fetched them), which need no second request
   * @throws ImageAccessDeniedException when the image is private and the registry refuses the pod's
   *     credentials
   * @throws IOException when the image is private and no registry that holds it could be asked
   */
  public void check(
      ResolvedImage image, String asked, PodCredentials credentials, Set<Digest> servedToPod)
      throws ImageAccessDeniedException, IOException {
    Set<Digest> documents = new LinkedHashSet<>();
    documents.add(image.reference().digest());
    documents.add(image.manifestDigest());
    for (Digest d : documents) {
      Set<String> repositories = privateImages.repositories(d);
      if (!repositories.isEmpty() && !servedToPod.contains(d)) {
        checkPrivate(d, repositories, image.reference(), asked, credentials);
      }
    }
  }

  private void checkPrivate(
      Digest digest,
      Set<String> repositories,
      ImageReference ref,
      String asked,
      PodCredentials credentials)
      throws ImageAccessDeniedException, IOException {
    // The repository the pod names first, when it is one that holds the image privately.
    List<String> order = new ArrayList<>();
    if (repositories.contains(ref.name())) {
      order.add(ref.name());
    }
    repositories.stream().filter(r -> !r.equals(ref.name())).forEach(order::add);
    List<String> refusals = new ArrayList<>();
    List<String> unreachable = new ArrayList<>();
    for (String repository : order) {
      ImageReference where = ImageReference.parse(repository + "@" + digest);
      DockerConfig auths = credentials.forRegistry(where.registry());
      String key =
          fingerprint(auths.credentialsFor(where.registry())) + "|" + repository + "|" + digest;
      Instant until = granted.get(key);
      if (until != null && clock.instant().isBefore(until)) {
        return;
      }
      try {
        registry.repository(where, auths).checkManifest(digest);
        remember(key);
        LOG.debug("pod credentials read private {} in {}", digest, repository);
        return;
      } catch (RegistryException e) {
        if (e.reason() == RegistryException.Reason.AUTHENTICATION_FAILED
            || e.reason() == RegistryException.Reason.NOT_FOUND) {
          refusals.add(repository + ": " + e.getMessage());
        } else {
          unreachable.add(repository + ": " + e.getMessage());
        }
      }
    }
    if (refusals.isEmpty()) {
      throw new IOException(
          "image "
              + asked
              + " is private, and the registry that holds it could not be asked whether the"
              + " pod's pull secrets may read it, so the volume is refused until it can: "
              + String.join("; ", unreachable));
    }
    String first = ImageReference.parse(order.getFirst() + "@" + digest).registry();
    throw new ImageAccessDeniedException(
        asked,
        first,
        credentials.forRegistry(first).credentialsFor(first).isPresent(),
        "the image is private (this node holds it for another pod) and the registry refused"
            + " the pod's credentials: "
            + String.join("; ", refusals));
  }

  private void remember(String key) {
    Instant now = clock.instant();
    if (granted.size() >= MAX_CACHED) {
      granted.values().removeIf(until -> !now.isBefore(until));
    }
    granted.put(key, now.plus(ttl));
  }

  /** A cache key part that tells credentials apart without holding the password. */
  private static String fingerprint(Optional<Credentials> credentials) {
    if (credentials.isEmpty()) {
      return "anonymous";
    }
    Credentials c = credentials.get();
    return Digest.of((c.username() + "\0" + c.password()).getBytes(StandardCharsets.UTF_8)).hex();
  }
}
