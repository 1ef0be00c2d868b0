package io.layerns.csi.node;

/**
 * A registry refused the image with the credentials the pod has (none, wrong ones, or ones without
 * access to the repository); answered as PERMISSION_DENIED, naming the registry.
 *
 * <p>PERMISSION_DENIED rather than FAILED_PRECONDITION: the message a user reads in the pod's
 * events then says plainly that access was refused, and the fix (the pod's imagePullSecrets) is
 * theirs; the kubelet retries either code the same way.
 */
public class ImageAccessDeniedException extends Exception {

  private static final long serialVersionUID = 1L;

  private final String registry;

  /**
   * @param podHasCredentials whether any of the pod's pull secrets holds credentials for {@code
   *     registry}: when none does, the message says so, since adding one is the fix
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
                ? " with the pod's pull credentials (check its imagePullSecrets): "
                : ": the pod has no pull secret for "
                    + registry
                    + " (add one to its imagePullSecrets): ")
            + detail);
    this.registry = registry;
  }

  /** The registry host that refused. */
  public String registry() {
    return registry;
  }
}
