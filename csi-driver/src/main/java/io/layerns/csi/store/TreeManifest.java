package io.layerns.csi.store;

import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What an unpacked layer tree held when it was verified: one line per entry (path, type, mode,
 * owner, size, mtime, content sha256 or link target or device number, xattrs), sorted by path.
 *
 * <p>The scrub compares a tree with the manifest recorded at import. Re-deriving the diff ID
 * instead is not possible: a tar's entry order, headers and padding are not kept on disk, so
 * re-tarring the tree gives other bytes. The manifest is made from the tree right after its diff ID
 * was verified (the same bits), so a later difference is rot or tampering, not the unpacker. At
 * import, files' hashes are the ones taken as they were written (by inode, so that a path a layer
 * wrote twice or a hardlink to a replaced file get the hash of what is there).
 */
public final class TreeManifest {
  private static final int S_IFMT = 0170000;
  private static final int S_IFREG = 0100000;
  private static final int S_IFLNK = 0120000;
  private static final int S_IFDIR = 0040000;
  private static final int CHUNK = 1 << 20;

  /** Called with the bytes about to be read, so a caller can pace the reads. */
  @FunctionalInterface
  public interface Pacer {
    void reading(long bytes) throws IOException;

    Pacer NONE = bytes -> {};
  }

  /** A regular file's content as it was written: its size and sha256. */
  public record Content(long size, byte[] sha256) {}

  private TreeManifest() {}

  /** The manifest of {@code root}'s tree, reading every file's content through {@code pacer}. */
  public static List<String> of(Path root, Pacer pacer) throws IOException {
    return of(root, pacer, Map.of());
  }

  /**
   * The manifest of {@code root}'s tree, taking a regular file's hash from {@code written} (by
   * inode) when its size there is the file's, and reading the others through {@code pacer}.
   */
  public static List<String> of(Path root, Pacer pacer, Map<Long, Content> written)
      throws IOException {
    List<Path> paths;
    try (Stream<Path> walk = Files.walk(root)) {
      paths = walk.sorted().toList();
    }
    List<String> lines = new ArrayList<>(paths.size());
    for (Path p : paths) {
      lines.add(line(root, p, pacer, written));
    }
    return lines;
  }

  /** The sha256 of a manifest's lines, as recorded beside the layer. */
  public static Digest digest(List<String> lines) {
    return Digest.of(String.join("\n", lines).getBytes(StandardCharsets.UTF_8));
  }

  /** The first line where two manifests differ, for a message; null when they are equal. */
  public static String firstDifference(List<String> recorded, List<String> found) {
    for (int i = 0; i < Math.max(recorded.size(), found.size()); i++) {
      String want = i < recorded.size() ? recorded.get(i) : "(nothing)";
      String got = i < found.size() ? found.get(i) : "(nothing)";
      if (!want.equals(got)) {
        return "recorded [" + want + "], found [" + got + "]";
      }
    }
    return null;
  }

  private static String line(Path root, Path p, Pacer pacer, Map<Long, Content> written)
      throws IOException {
    Map<String, Object> a =
        Files.readAttributes(p, "unix:mode,uid,gid,rdev,size,ino", LinkOption.NOFOLLOW_LINKS);
    int mode = (Integer) a.get("mode");
    int type = mode & S_IFMT;
    String rel = root.relativize(p).toString();
    StringBuilder line = new StringBuilder(escape(rel.isEmpty() ? "." : rel));
    line.append(' ').append(Integer.toOctalString(mode));
    line.append(' ').append(a.get("uid")).append(':').append(a.get("gid"));
    if (type == S_IFREG) {
      line.append(" size=").append(a.get("size"));
      line.append(" mtime=").append(mtime(p));
      long size = (Long) a.get("size");
      Content known = written.get((Long) a.get("ino"));
      line.append(" sha256=")
          .append(
              known != null && known.size() == size
                  ? HexFormat.of().formatHex(known.sha256())
                  : sha256(p, size, pacer));
    } else if (type == S_IFLNK) {
      line.append(" -> ").append(escape(Files.readSymbolicLink(p).toString()));
    } else if (type != S_IFDIR) {
      line.append(" rdev=").append(a.get("rdev"));
    }
    for (String name : Posix.llistxattr(p).stream().sorted().toList()) {
      line.append(' ')
          .append(name)
          .append('=')
          .append(HexFormat.of().formatHex(Posix.lgetxattr(p, name).orElse(new byte[0])));
    }
    return line.toString();
  }

  private static String mtime(Path p) throws IOException {
    FileTime t = Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS);
    return t.toInstant().toString();
  }

  private static String sha256(Path p, long size, Pacer pacer) throws IOException {
    MessageDigest sha = Digest.newSha256();
    byte[] buf = new byte[CHUNK];
    try (InputStream in = Files.newInputStream(p)) {
      for (long left = size; ; left -= CHUNK) {
        pacer.reading(Math.max(0, Math.min(left, CHUNK)));
        int n = in.readNBytes(buf, 0, CHUNK);
        if (n <= 0) {
          break;
        }
        sha.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(sha.digest());
  }

  /** Keeps one entry on one line whatever its name holds. */
  private static String escape(String s) {
    return s.replace("%", "%25").replace("\n", "%0A").replace(" ", "%20");
  }
}
