package io.layerns.csi.node;

import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.store.StoreFullException;
import java.net.ConnectException;
import java.net.http.HttpTimeoutException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a failed publish tells the pod: the kubelet puts the gRPC status message into the pod's
 * {@code FailedMount} event, so it starts with the image, says why in the user's terms and what to
 * do, in a sentence or two with no class names.
 */
final class FailedMountMessage {
  /**
   * The registry's own error, as its JSON answer gave it: "(MANIFEST_UNKNOWN: manifest unknown)".
   */
  private static final Pattern REGISTRY_ERROR = Pattern.compile("\\((\\w+): ([^()]+)\\)\\s*$");

  /** "java.net.ConnectException: " at the start of a message that wrapped another error. */
  private static final Pattern CLASS_PREFIX =
      Pattern.compile("^([\\w$]+\\.)+\\w*(Exception|Error): ");

  /** What a tag's lookup says of the digest this node had recorded for a tag the registry lost. */
  private static final Pattern RECORDED =
      Pattern.compile("\\(any more; (the digest this node recorded for it, \\S+, is not used)\\)");

  /** The URL a failed request went to, in a registry error's message. */
  private static final Pattern URL_SCHEME = Pattern.compile(" at (https?)://");

  private FailedMountMessage() {}

  /** An image that neither a member node nor the registry has; empty when that is not known. */
  static Optional<String> notFound(String image, ImageNotFoundException e) {
    // The registry's answer: to the tag's HEAD (then no member was asked), or among the sources.
    FetchFailedException f = e.getCause() instanceof FetchFailedException ff ? ff : null;
    Optional<RegistryException> registry =
        f != null
            ? registryError(f)
            : e.getCause() instanceof RegistryException r ? Optional.of(r) : Optional.empty();
    ImageReference ref = parse(image);
    // Only the registry's 404 for the manifest itself: a missing platform or blob keeps the whole
    // message, which says which.
    if (registry.isEmpty()
        || ref == null
        || registry.get().status() != 404
        || !registry.get().getMessage().contains(": manifest ")) {
      return Optional.empty();
    }
    boolean byDigest = ref.digest() != null;
    Matcher m = REGISTRY_ERROR.matcher(registry.get().getMessage());
    Matcher recorded = RECORDED.matcher(e.getMessage());
    return Optional.of(
        "image "
            + image
            + " not found: "
            + (byDigest && f != null ? membersHave(f) + " and " : "")
            + "the registry has no "
            + (byDigest ? "manifest with digest " + ref.digest() : "tag " + ref.tag())
            + ": "
            + ref.registry()
            + " answered 404"
            + (m.find() ? " (" + m.group(2) + ")" : "")
            + (recorded.find() ? "; " + recorded.group(1) : "")
            + ". Check the image's name and "
            + (byDigest ? "digest" : "tag")
            + ".");
  }

  /**
   * A failure the pod's user or the node's admin can act on (the registry unreachable, the node's
   * store full), said as such; empty for any other failure.
   */
  static Optional<String> of(String image, String node, Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof StoreFullException full) {
        return Optional.of(storeFull(image, node, full));
      }
      if (t instanceof FetchFailedException f) {
        for (FetchFailedException.Attempt a : f.attempts()) {
          if (a.error() instanceof StoreFullException full) {
            return Optional.of(storeFull(image, node, full));
          }
        }
        Optional<RegistryException> registry = registryError(f);
        if (registry.isPresent()
            && registry.get().reason() == RegistryException.Reason.UNAVAILABLE) {
          return Optional.of(unreachable(image, node, f, registry.get()));
        }
      }
    }
    return Optional.empty();
  }

  private static String unreachable(
      String image, String node, FetchFailedException f, RegistryException registry) {
    ImageReference ref = parse(image);
    String host = ref == null ? registry.source() : ref.registry();
    return "image "
        + image
        + " could not be fetched: "
        + membersHave(f)
        + " and the registry "
        + host
        + " could not be reached"
        + scheme(registry)
        + " ("
        + rootCause(registry)
        + "). Check that the registry is up and reachable from node "
        + node
        + ", or that a member node holds the image.";
  }

  private static String storeFull(String image, String node, StoreFullException full) {
    // Without a size (a write ran out of room, or unpacking would pass the space kept free for
    // the node), the store's own reason says which bound it hit.
    String why =
        full.needed() > 0
            ? "needs "
                + full.needed()
                + " bytes but only "
                + full.free()
                + " bytes are free in the layer store ("
                + full.root()
                + ")"
            : "does not fit in the layer store ("
                + full.root()
                + ")"
                + (full.getCause() != null && full.getCause().getMessage() != null
                    ? ": " + CLASS_PREFIX.matcher(full.getCause().getMessage()).replaceFirst("")
                    : "")
                + (full.free() >= 0 ? ", " + full.free() + " bytes free" : "");
    return "image "
        + image
        + " does not fit on node "
        + node
        + ": layer "
        + full.digest()
        + " "
        + why
        + ". Free space on node "
        + node
        + ", or set the LayerNamespace's transport to Nfs or Sshfs so that the node reads the"
        + " layers a peer holds without copying them.";
  }

  /** What the member nodes said: none holds it, unless some could not be asked. */
  private static String membersHave(FetchFailedException f) {
    boolean allAnswered =
        f.attempts().stream()
            .filter(a -> a.source().startsWith("peer "))
            .allMatch(a -> a.reason() == RegistryException.Reason.NOT_FOUND);
    return allAnswered ? "no member node holds it" : "no member node that could be asked holds it";
  }

  /** The image's registry's answer among the sources tried (it is tried last). */
  private static Optional<RegistryException> registryError(FetchFailedException f) {
    List<FetchFailedException.Attempt> attempts = f.attempts();
    for (int i = attempts.size() - 1; i >= 0; i--) {
      FetchFailedException.Attempt a = attempts.get(i);
      if (a.source().startsWith("registry ") && a.error() instanceof RegistryException r) {
        return Optional.of(r);
      }
    }
    return Optional.empty();
  }

  /** " over http" or " over https", as the failed request's URL says; empty if it does not. */
  private static String scheme(RegistryException e) {
    Matcher m = URL_SCHEME.matcher(e.getMessage());
    return m.find() ? " over " + m.group(1) : "";
  }

  /** The innermost error's own words ("Connection refused"), without its class name. */
  private static String rootCause(Throwable e) {
    String message = null;
    boolean refused = false;
    boolean timedOut = false;
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) {
        message = t.getMessage();
      }
      refused |= t instanceof ConnectException;
      timedOut |= t instanceof HttpTimeoutException;
    }
    if (message != null) {
      return CLASS_PREFIX.matcher(message).replaceFirst("");
    }
    // The JDK's HTTP client often says only which kind of failure it was.
    return refused ? "connection refused" : timedOut ? "timed out" : "no connection";
  }

  private static ImageReference parse(String image) {
    try {
      return ImageReference.parse(image);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }
}
