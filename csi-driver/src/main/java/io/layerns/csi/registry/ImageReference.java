package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * An image reference such as {@code registry.example:5000/team/app:v1@sha256:...}, normalized the
 * way Docker does it: no registry means {@code docker.io}, a one-component Docker Hub name gets
 * {@code library/}, and no tag and no digest means {@code latest}.
 *
 * @param registry the registry host, with its port when one was given
 * @param repository the repository path within the registry
 * @param tag the tag, or null when the reference names only a digest
 * @param digest the manifest digest, or null when the reference names only a tag
 */
public record ImageReference(String registry, String repository, String tag, Digest digest) {
  /** The registry a reference without a host names. */
  public static final String DOCKER_HUB = "docker.io";

  private static final int MAX_NAME = 255;
  private static final int MAX_TAG = 128;
  private static final Pattern DOMAIN_COMPONENT =
      Pattern.compile("[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]");
  private static final Pattern IPV6 = Pattern.compile("\\[[a-fA-F0-9:]+\\]");
  private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");
  private static final Pattern PATH_COMPONENT =
      Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
  private static final Pattern TAG = Pattern.compile("[\\w][\\w.-]*");

  public ImageReference {
    if (tag == null && digest == null) {
      throw new IllegalArgumentException("an image reference needs a tag or a digest");
    }
  }

  /**
   * Parses a reference.
   *
   * @throws IllegalArgumentException naming what is wrong: an uppercase or malformed repository, a
   *     bad host or port, a bad tag or digest, or a value over its length limit
   */
  public static ImageReference parse(String reference) {
    if (reference == null || reference.isEmpty()) {
      throw new IllegalArgumentException("image reference is empty");
    }
    String rest = reference;
    Digest digest = null;
    int at = rest.indexOf('@');
    if (at >= 0) {
      String d = rest.substring(at + 1);
      rest = rest.substring(0, at);
      digest = parseDigest(reference, d);
    }
    String tag = null;
    int lastSlash = rest.lastIndexOf('/');
    int colon = rest.lastIndexOf(':');
    if (colon > lastSlash) {
      tag = rest.substring(colon + 1);
      rest = rest.substring(0, colon);
      if (tag.length() > MAX_TAG) {
        throw invalid(reference, "tag is longer than " + MAX_TAG + " characters");
      }
      if (!TAG.matcher(tag).matches()) {
        throw invalid(
            reference,
            "tag \""
                + tag
                + "\" may only hold letters, digits, '_', '.' and '-' and must not start with"
                + " '.' or '-'");
      }
    }
    if (rest.isEmpty()) {
      throw invalid(reference, "repository name is empty");
    }
    if (rest.length() > MAX_NAME) {
      throw invalid(reference, "name is longer than " + MAX_NAME + " characters");
    }
    String registry;
    String repository;
    int slash = rest.indexOf('/');
    String first = slash < 0 ? rest : rest.substring(0, slash);
    // Docker's rule: the first component is a host when it has a dot or a port, is localhost, or
    // has uppercase letters (which a repository may not).
    boolean hasHost =
        slash >= 0
            && (first.contains(".")
                || first.contains(":")
                || first.equals("localhost")
                || !first.equals(first.toLowerCase(Locale.ROOT)));
    if (hasHost) {
      registry = checkHost(reference, first);
      repository = rest.substring(slash + 1);
    } else {
      registry = DOCKER_HUB;
      repository = rest;
    }
    if (registry.equals("index.docker.io")) {
      registry = DOCKER_HUB;
    }
    checkRepository(reference, repository);
    if (registry.equals(DOCKER_HUB) && !repository.contains("/")) {
      repository = "library/" + repository;
    }
    if (tag == null && digest == null) {
      tag = "latest";
    }
    return new ImageReference(registry, repository, tag, digest);
  }

  /** The tag or, when pinned, the digest: what goes after {@code /manifests/} in the API. */
  public String manifestReference() {
    return digest != null ? digest.toString() : tag;
  }

  /** The same image pinned to {@code manifest}, keeping the tag for display. */
  public ImageReference withDigest(Digest manifest) {
    return new ImageReference(registry, repository, tag, manifest);
  }

  /** {@code registry/repository}, without tag or digest. */
  public String name() {
    return registry + "/" + repository;
  }

  @Override
  public String toString() {
    return name() + (tag != null ? ":" + tag : "") + (digest != null ? "@" + digest : "");
  }

  private static Digest parseDigest(String reference, String d) {
    int sep = d.indexOf(':');
    if (sep <= 0) {
      throw invalid(reference, "digest \"" + d + "\" is not of the form algorithm:hex");
    }
    if (!d.substring(0, sep).equals("sha256")) {
      throw invalid(reference, "digest algorithm \"" + d.substring(0, sep) + "\" is not sha256");
    }
    try {
      return Digest.parse(d);
    } catch (IllegalArgumentException e) {
      throw invalid(reference, "digest \"" + d + "\" does not have 64 lowercase hex digits");
    }
  }

  private static String checkHost(String reference, String host) {
    String h = host;
    String port = null;
    if (h.startsWith("[")) {
      int end = h.indexOf(']');
      if (end < 0 || !IPV6.matcher(h.substring(0, end + 1)).matches()) {
        throw invalid(reference, "registry host \"" + host + "\" is not a valid IPv6 address");
      }
      String after = h.substring(end + 1);
      if (!after.isEmpty()) {
        if (!after.startsWith(":")) {
          throw invalid(reference, "registry host \"" + host + "\" is malformed");
        }
        port = after.substring(1);
      }
    } else {
      int c = h.indexOf(':');
      if (c >= 0) {
        port = h.substring(c + 1);
        h = h.substring(0, c);
      }
      for (String component : h.split("\\.", -1)) {
        if (!DOMAIN_COMPONENT.matcher(component).matches()) {
          throw invalid(
              reference,
              "registry host \""
                  + host
                  + "\" is not a valid host name (letters, digits, '-' and dots)");
        }
      }
    }
    if (port != null && (!PORT.matcher(port).matches() || Integer.parseInt(port) > 65535)) {
      throw invalid(reference, "registry port \"" + port + "\" is not a number from 0 to 65535");
    }
    return host;
  }

  private static void checkRepository(String reference, String repository) {
    for (String component : repository.split("/", -1)) {
      if (!component.equals(component.toLowerCase(Locale.ROOT))) {
        throw invalid(reference, "repository \"" + repository + "\" must be lowercase");
      }
      if (!PATH_COMPONENT.matcher(component).matches()) {
        throw invalid(
            reference,
            "repository component \""
                + component
                + "\" must be lowercase letters and digits, separated by '.', '_', '__' or '-'");
      }
    }
  }

  private static IllegalArgumentException invalid(String reference, String problem) {
    String shown = reference.length() > 300 ? reference.substring(0, 300) + "..." : reference;
    return new IllegalArgumentException("invalid image reference \"" + shown + "\": " + problem);
  }
}
