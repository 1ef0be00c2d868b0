package io.layerns.csi.store;

/**
 * Which extended attributes a layer may set: those that runtimes keep and programs in the image use
 * (file capabilities, POSIX ACLs, {@code user.*}) are kept; SELinux labels and NFSv4 ACLs are
 * dropped, as {@code umoci unpack} drops them (a label is the node's to give, not the image's);
 * every other name is refused, since it would act on the host: {@code trusted.*} steers overlayfs
 * and other privileged host code, and the other {@code security.*} names feed host security modules
 * (IMA, EVM, Smack, AppArmor).
 */
final class XattrPolicy {
  private XattrPolicy() {}

  /** What the unpacker does with one xattr. */
  enum Verdict {
    KEEP,
    DROP,
    REFUSE
  }

  static Verdict of(String name) {
    if (name.startsWith("user.")
        || name.equals("security.capability")
        || name.equals("system.posix_acl_access")
        || name.equals("system.posix_acl_default")) {
      return Verdict.KEEP;
    }
    if (name.equals("security.selinux") || name.equals("system.nfs4_acl")) {
      return Verdict.DROP;
    }
    return Verdict.REFUSE;
  }

  /** Why a refused xattr is refused, for the error that names it. */
  static String refusal(String name) {
    if (name.startsWith("trusted.overlay.")) {
      // A layer says "opaque" with a .wh..wh..opq entry, and must not steer overlayfs otherwise.
      return "xattr " + name + " is reserved for overlayfs";
    }
    if (name.startsWith("trusted.")) {
      return "xattr "
          + name
          + " is in the trusted namespace, which only the host's own privileged"
          + " processes may use";
    }
    if (name.startsWith("security.")) {
      return "xattr "
          + name
          + " would be read by a security module of the host; a layer may set"
          + " only security.capability";
    }
    return "xattr "
        + name
        + " is not one a layer may set (allowed: user.*, security.capability,"
        + " system.posix_acl_access, system.posix_acl_default)";
  }
}
