package io.layerns.csi.node;

import io.layerns.csi.registry.Credentials;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tenant rule: content marked private (see {@link PrivateImages}) reaches a pod only if that
 * pod's own credentials read it from a registry repository that holds it, however the node came by
 * it (another pod's pull, a peer, a preload) and whatever repository the pod names. A layer counts
 * as private when this node or any member node of its namespace marks it so (members publish their
 * marks in their LayerStore status). Each document of the image is checked on its own (index,
 * manifest, config, and layers known here only through private images): a registry that serves a
 * private manifest's bytes, or a crafted manifest naming a private config, proves nothing about the
 * config and layers.
 *
 * <p>A document passes when, in this publish,
 *
 * <ol>
 *   <li>the pod's own registry served its bytes (verified by digest), or
 *   <li>the pod's credentials can read a repository that holds it: one that already served another
 *       document to the pod in this publish, or one a HEAD by digest with the pod's credentials
 *       says yes to (remembered for {@link #DEFAULT_TTL} per credentials, repository and digest),
 *       or
 *   <li>the repository the pod names serves its bytes now, read in full and verified (what a public
 *       image sharing a layer with a private one costs once per node and repository; that
 *       repository is then recorded as a holder).
 * </ol>
 *
 * A public document needs no request at all. A registry that cannot be reached is no yes: the
 * volume fails, and the kubelet retries.
 */
public final class ImageAccess {

  private static final Logger LOG = LoggerFactory.getLogger(ImageAccess.class);

  /** How long a registry's yes stands: a revoked pull secret stops new volumes within this time. */
  public static final Duration DEFAULT_TTL = Duration.ofSeconds(60);

  /** What kind of document: manifests are asked for as manifests, the rest as blobs. */
  public enum Kind {
    MANIFEST,
    CONFIG,
    LAYER
  }

  /**
   * One piece of an image.
   *
   * @param size its size from its descriptor, or -1 when unknown
   */
  public record Document(Digest digest, Kind kind, long size) {
    String describe() {
      return switch (kind) {
        case MANIFEST -> "manifest " + digest;
        case CONFIG -> "config " + digest;
        case LAYER -> "layer " + digest;
      };
    }
  }

  /** The pod's side of a publish: the repository it names and its credentials. */
  public interface PodSource {
    /** The repository the pod names, {@code registry/repository}. */
    String repositoryName();

    /** The pod's credentials for a registry host; {@link DockerConfig#EMPTY} when none. */
    DockerConfig credentialsFor(String registry) throws IOException;

    /** Whether the pod's registry served these bytes, verified, earlier in this publish. */
    boolean delivered(Digest digest);

    /**
     * Reads the document from the pod's repository with its credentials and checks its digest.
     *
     * @throws RegistryException when the registry answers without it (refused, not found, other
     *     bytes)
     * @throws IOException when the registry cannot be reached
     */
    void read(Document document) throws IOException;
  }

  private final PrivateImages privateImages;
  private final RegistryClient registry;
  private final io.layerns.csi.registry.ReadGrants grants;

  public ImageAccess(
      PrivateImages privateImages, RegistryClient registry, Duration ttl, Clock clock) {
    this.privateImages = privateImages;
    this.registry = registry;
    this.grants = new io.layerns.csi.registry.ReadGrants(ttl, clock);
  }

  /**
   * The check of one publish, which remembers the repositories the pod was found to read.
   *
   * @param asked the image as the volume names it, for messages
   * @param memberMarks the repositories that the namespace's other member nodes say hold a layer
   *     privately (their published marks): a layer private on any member is private here too,
   *     however this node came by it
   */
  public Session session(String asked, PodSource pod, Function<Digest, Set<String>> memberMarks) {
    return new Session(asked, pod, memberMarks);
  }

  /** One publish's checks; not thread-safe. */
  public final class Session {
    private final String asked;
    private final PodSource pod;
    private final Function<Digest, Set<String>> memberMarks;
    private final Set<String> readable = new HashSet<>();

    private Session(String asked, PodSource pod, Function<Digest, Set<String>> memberMarks) {
      this.asked = asked;
      this.pod = pod;
      this.memberMarks = memberMarks;
    }

    /**
     * Lets the pod use {@code documents} or says why not.
     *
     * @throws ImageAccessDeniedException when one is private and no repository that holds it
     *     accepts the pod's credentials
     * @throws IOException when one is private and no registry that holds it could be asked
     */
    public void require(List<Document> documents) throws ImageAccessDeniedException, IOException {
      for (Document d : documents) {
        Set<String> holders;
        boolean markedHere = true;
        if (d.kind() == Kind.LAYER) {
          holders = new TreeSet<>(privateImages.layerRepositories(d.digest()));
          markedHere = !holders.isEmpty();
          holders.addAll(memberMarks.apply(d.digest()));
        } else {
          holders = privateImages.repositories(d.digest());
        }
        if (!holders.isEmpty()) {
          requireOne(d, holders, markedHere);
        }
      }
    }

    private void requireOne(Document d, Set<String> holders, boolean markedHere)
        throws ImageAccessDeniedException, IOException {
      if (pod.delivered(d.digest())) {
        holds(d, pod.repositoryName());
        return;
      }
      for (String r : holders) {
        if (readable.contains(r)) {
          return;
        }
      }
      List<String> refusals = new ArrayList<>();
      List<String> unreachable = new ArrayList<>();
      // The repository the pod names first, when it is one that holds the document.
      List<String> order = new ArrayList<>();
      if (holders.contains(pod.repositoryName())) {
        order.add(pod.repositoryName());
      }
      holders.stream().filter(r -> !r.equals(pod.repositoryName())).forEach(order::add);
      for (String repository : order) {
        if (ask(d, repository, refusals, unreachable)) {
          readable.add(repository);
          return;
        }
      }
      if (!holders.contains(pod.repositoryName())) {
        try {
          pod.read(d);
          LOG.info(
              "{} of {} is private elsewhere, and {} served its bytes to the pod: recorded as a"
                  + " holder",
              d.describe(),
              asked,
              pod.repositoryName());
          holds(d, pod.repositoryName());
          return;
        } catch (RegistryException e) {
          refusals.add(pod.repositoryName() + ": " + e.getMessage());
        } catch (IOException e) {
          unreachable.add(pod.repositoryName() + ": " + e.getMessage());
        }
      }
      if (refusals.isEmpty()) {
        throw new IOException(
            "image "
                + asked
                + " is private, and the registry that holds it could not be asked whether the"
                + " pod's credentials may read it, so the volume is refused until it can: "
                + String.join("; ", unreachable));
      }
      String first = ImageReference.parse(order.getFirst() + "@" + d.digest()).registry();
      throw new ImageAccessDeniedException(
          asked,
          first,
          pod.credentialsFor(first).credentialsFor(first).isPresent(),
          "its "
              + d.describe()
              + (markedHere
                  ? " is private (this node knows it only through a private image)"
                  : " is private (a member node of the namespace knows it only through a private"
                      + " image)")
              + " and no registry that holds it accepted the pod's credentials: "
              + String.join("; ", refusals));
    }

    /** Whether the pod's credentials read {@code d} in {@code repository}; a HEAD, remembered. */
    private boolean ask(
        Document d, String repository, List<String> refusals, List<String> unreachable)
        throws IOException {
      ImageReference where = ImageReference.parse(repository + "@" + d.digest());
      DockerConfig auths = pod.credentialsFor(where.registry());
      String key =
          fingerprint(auths.credentialsFor(where.registry())) + "|" + repository + "|" + d.digest();
      if (grants.check(
          key,
          registry.repository(where, auths),
          d.digest(),
          d.kind() == Kind.MANIFEST,
          refusals,
          unreachable)) {
        LOG.debug("pod credentials read private {} in {}", d.describe(), repository);
        return true;
      }
      return false;
    }

    /** The pod's repository served {@code d}'s bytes: it holds it, and the pod may read it. */
    private void holds(Document d, String repository) throws IOException {
      if (d.kind() == Kind.LAYER) {
        privateImages.recordLayer(d.digest(), List.of(repository));
      } else {
        privateImages.record(d.digest(), List.of(repository));
      }
      readable.add(repository);
    }
  }

  /** A cache key part that tells credentials apart without holding the password. */
  private static String fingerprint(Optional<Credentials> credentials) {
    return credentials.map(Credentials::fingerprint).orElse("anonymous");
  }
}
