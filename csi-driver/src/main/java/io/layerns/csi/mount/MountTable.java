package io.layerns.csi.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads the mount table of this process from {@code /proc/self/mountinfo}. */
public final class MountTable {

  /** One line of mountinfo (proc(5)); paths are unescaped. */
  public record Entry(
      int mountId,
      int parentId,
      String root,
      String mountPoint,
      String mountOptions,
      String fsType,
      String source,
      String superOptions) {}

  private static final Path SELF = Path.of("/proc/self/mountinfo");

  private MountTable() {}

  /** The current mounts of this process, in mount order. */
  public static List<Entry> read() throws IOException {
    return parse(Files.readString(SELF));
  }

  /**
   * Whether something is mounted at {@code path} (compared after normalisation, not resolution).
   */
  public static boolean isMountPoint(Path path) throws IOException {
    String wanted = canonical(path);
    for (Entry e : read()) {
      if (e.mountPoint().equals(wanted)) {
        return true;
      }
    }
    return false;
  }

  /** The entries mounted at or below {@code dir}. */
  public static List<Entry> mountsUnder(Path dir) throws IOException {
    String prefix = canonical(dir);
    List<Entry> out = new ArrayList<>();
    for (Entry e : read()) {
      if (e.mountPoint().equals(prefix) || e.mountPoint().startsWith(prefix + "/")) {
        out.add(e);
      }
    }
    return out;
  }

  /** Parses mountinfo text. */
  public static List<Entry> parse(String text) {
    List<Entry> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      // Fields: id parent major:minor root mountpoint options [optional...] - fstype source super
      String[] f = line.split(" ");
      int sep = -1;
      for (int i = 6; i < f.length; i++) {
        if (f[i].equals("-")) {
          sep = i;
          break;
        }
      }
      if (f.length < 7 || sep < 0 || sep + 3 > f.length) {
        throw new IllegalArgumentException("malformed mountinfo line: " + line);
      }
      out.add(
          new Entry(
              Integer.parseInt(f[0]),
              Integer.parseInt(f[1]),
              unescape(f[3]),
              unescape(f[4]),
              f[5],
              f[sep + 1],
              unescape(f[sep + 2]),
              sep + 3 < f.length ? f[sep + 3] : ""));
    }
    return out;
  }

  /** Undoes the kernel's octal escaping of space, tab, newline and backslash. */
  static String unescape(String s) {
    if (s.indexOf('\\') < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && isOctal(s, i + 1)) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static boolean isOctal(String s, int from) {
    if (from + 3 > s.length()) {
      return false;
    }
    for (int i = from; i < from + 3; i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '7') {
        return false;
      }
    }
    return true;
  }

  /** The form the kernel prints: absolute, normalised, symlinks resolved when the path exists. */
  static String canonical(Path path) {
    Path p = path.toAbsolutePath().normalize();
    try {
      p = p.toRealPath();
    } catch (IOException e) {
      // A path that no longer exists cannot be a mount point of ours; compare as given.
    }
    return p.toString();
  }
}
