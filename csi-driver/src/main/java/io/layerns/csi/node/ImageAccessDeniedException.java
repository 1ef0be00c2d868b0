package io.layerns.csi.node;

/**
 * A registry refused the image with the credentials the pod has (none, wrong ones, or ones without
 * access to the repository); answered as PERMISSION_DENIED, naming the registry.
 *
 * <p>PERMISSION_DENIED rather than FAILED_PRECONDITION: the message a user reads in the pod's
 * events then says plainly that access was refused, and the fix (the volume's nodePublishSecretRef)
 * is theirs; the kubelet retries either code the same way.
 */
public class ImageAccessDeniedException extends Exception {

  private static final long serialVersionUID = 1L;

  /** Where a pod's credentials come from, and what does not count, for every refusal. */
  private static final String WHERE =
      "the volume's nodePublishSecretRef (a kubernetes.io/dockerconfigjson Secret in the pod's"
          + " namespace; csi.layerns.io does not read the pod's imagePullSecrets)";

  private final String registry;

  /**
   * @param podHasCredentials whether the volume's Secret holds credentials for {@code registry}:
   *     when it does not, the message says so, since adding them is the fix
   * @param detail what the registry answered
   */
  public ImageAccessDeniedException(
      String image, String registry, boolean podHasCredentials, String detail) {
    super(
        "registry "
            + registry
            + " refused image "
            + image
            + (podHasCredentials
                ? " with the pod's pull credentials, which come from " + WHERE + ": "
                : ": the pod has no pull credentials for "
                    + registry
                    + " (give them in "
                    + WHERE
                    + "): ")
            + detail);
    this.registry = registry;
  }

  /** The registry host that refused. */
  public String registry() {
    return registry;
  }
}
