package io.layerns.csi.store;

import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Optional;

/** Reads what the kernel says about a path, never following a symlink. */
final class Inspect {
  static final int S_IFMT = 0170000;
  static final int S_IFCHR = 0020000;

  private Inspect() {}

  static int attr(Path p, String name) throws IOException {
    return ((Number) Files.getAttribute(p, "unix:" + name, LinkOption.NOFOLLOW_LINKS)).intValue();
  }

  static int permissions(Path p) throws IOException {
    return attr(p, "mode") & 07777;
  }

  static int fileType(Path p) throws IOException {
    return attr(p, "mode") & S_IFMT;
  }

  static long rdev(Path p) throws IOException {
    return ((Number) Files.getAttribute(p, "unix:rdev", LinkOption.NOFOLLOW_LINKS)).longValue();
  }

  static long inode(Path p) throws IOException {
    return ((Number) Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS)).longValue();
  }

  static String owner(Path p) throws IOException {
    return attr(p, "uid") + ":" + attr(p, "gid");
  }

  static FileTime mtime(Path p) throws IOException {
    return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS);
  }

  static String content(Path p) throws IOException {
    return Files.readString(p);
  }

  static String linkTarget(Path p) throws IOException {
    return Files.readSymbolicLink(p).toString();
  }

  static Optional<String> xattr(Path p, String name) throws IOException {
    return Posix.lgetxattr(p, name).map(v -> new String(v, StandardCharsets.UTF_8));
  }

  static boolean isWhiteout(Path p) throws IOException {
    return fileType(p) == S_IFCHR && rdev(p) == 0;
  }
}
