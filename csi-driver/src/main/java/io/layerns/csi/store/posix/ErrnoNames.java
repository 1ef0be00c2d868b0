package io.layerns.csi.store.posix;

import java.util.Map;

/** Names of the errno values the store can meet, so that errors read as the kernel's words. */
final class ErrnoNames {
  private static final Map<Integer, String> NAMES =
      Map.ofEntries(
          Map.entry(1, "EPERM"),
          Map.entry(2, "ENOENT"),
          Map.entry(13, "EACCES"),
          Map.entry(17, "EEXIST"),
          Map.entry(20, "ENOTDIR"),
          Map.entry(22, "EINVAL"),
          Map.entry(28, "ENOSPC"),
          Map.entry(34, "ERANGE"),
          Map.entry(36, "ENAMETOOLONG"),
          Map.entry(40, "ELOOP"),
          Map.entry(61, "ENODATA"),
          Map.entry(95, "EOPNOTSUPP"),
          Map.entry(122, "EDQUOT"));

  private ErrnoNames() {}

  static String of(int errno) {
    return NAMES.getOrDefault(errno, "errno " + errno);
  }
}
