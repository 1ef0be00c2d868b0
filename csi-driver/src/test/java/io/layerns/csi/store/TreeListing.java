package io.layerns.csi.store;

import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * One line per path of a tree, with what a pod would see of it: type, permission bits, owner,
 * content digest, link target, file mtime, hardlink siblings and user/capability xattrs. Directory
 * times are left out, since unpackers legitimately differ there. Runnable as a program so that a
 * child process inside a private mount namespace can list an overlay mount.
 */
final class TreeListing {
  private TreeListing() {}

  public static void main(String[] args) throws IOException {
    list(Path.of(args[0])).forEach(System.out::println);
  }

  static List<String> list(Path root) throws IOException {
    Map<Long, List<String>> byInode = new TreeMap<>();
    List<Path> paths;
    try (Stream<Path> walk = Files.walk(root)) {
      paths = walk.sorted().toList();
    }
    // Each file's inode is read once: sshfs numbers inodes as it meets them and may number a file
    // anew once the kernel forgot it, so a second stat can disagree with the first.
    Map<Path, Long> inodes = new java.util.HashMap<>();
    for (Path p : paths) {
      if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
        long inode = Inspect.inode(p);
        inodes.put(p, inode);
        byInode.computeIfAbsent(inode, i -> new ArrayList<>()).add(rel(root, p));
      }
    }
    List<String> lines = new ArrayList<>();
    for (Path p : paths) {
      StringBuilder line = new StringBuilder(rel(root, p));
      int type = Inspect.fileType(p);
      line.append(' ').append(typeName(type));
      line.append(" mode=").append(Integer.toOctalString(Inspect.permissions(p)));
      line.append(" owner=").append(Inspect.owner(p));
      if (type == 0100000) {
        line.append(" sha256=").append(sha256(p));
        line.append(" mtime=").append(Inspect.mtime(p));
        List<String> siblings = byInode.get(inodes.get(p));
        if (siblings.size() > 1) {
          line.append(" links=").append(siblings);
        }
      } else if (type == 0120000) {
        line.append(" -> ").append(Inspect.linkTarget(p));
        line.append(" mtime=").append(Inspect.mtime(p));
      } else if (type != 0040000) {
        line.append(" rdev=").append(Inspect.rdev(p));
      }
      for (String xattr : xattrNames(p)) {
        if (xattr.startsWith("user.") || xattr.equals("security.capability")) {
          line.append(' ')
              .append(xattr)
              .append('=')
              .append(HexFormat.of().formatHex(Posix.lgetxattr(p, xattr).orElseThrow()));
        }
      }
      lines.add(line.toString());
    }
    return lines;
  }

  /** The xattr names, none where the file system has no xattrs (sshfs answers EOPNOTSUPP). */
  private static List<String> xattrNames(Path p) throws IOException {
    try {
      return Posix.llistxattr(p).stream().sorted().toList();
    } catch (io.layerns.csi.store.posix.PosixException e) {
      if (e.errno() == 95) {
        return List.of();
      }
      throw e;
    }
  }

  private static String rel(Path root, Path p) {
    String r = root.relativize(p).toString();
    return r.isEmpty() ? "." : r;
  }

  private static String typeName(int type) {
    return switch (type) {
      case 0040000 -> "dir";
      case 0100000 -> "file";
      case 0120000 -> "symlink";
      case 0020000 -> "chardev";
      case 0060000 -> "blockdev";
      case 0010000 -> "fifo";
      default -> "type" + Integer.toOctalString(type);
    };
  }

  private static String sha256(Path p) throws IOException {
    MessageDigest sha = Digest.newSha256();
    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
      byte[] buf = new byte[8192];
      for (int n = in.read(buf); n > 0; n = in.read(buf)) {
        sha.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(sha.digest());
  }
}
