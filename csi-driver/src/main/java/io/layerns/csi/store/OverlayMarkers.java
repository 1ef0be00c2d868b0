package io.layerns.csi.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What of an unpacked layer a remote mount cannot carry: where it tells overlayfs to hide what lies
 * below (whiteouts, character devices 0/0, and opaque directories, {@code
 * trusted.overlay.opaque=y}), and its entries that need device numbers or extended attributes
 * (device nodes, FIFOs, files and directories with kept xattrs such as {@code security.capability}
 * or ACLs, or with setuid, setgid or sticky bits).
 *
 * <p>SFTP has no device numbers, no extended attributes and only nine permission bits (a whiteout
 * read through sshfs fails with EIO, an opaque directory looks like any other, a file loses its
 * capability, su its setuid bit and /tmp its sticky bit), and NFSv4 carries no {@code trusted.*} or
 * {@code security.*} attributes. So a holder says where they are (its HTTP export serves this list)
 * and the consumer re-creates them in small local layers beside the remote mount.
 *
 * @param whiteouts paths (relative to the layer root) of the whiteouts, sorted
 * @param opaqueDirs paths of the opaque directories, sorted
 * @param specials device nodes, FIFOs, and files and directories with kept xattrs or with setuid,
 *     setgid or sticky bits, by path
 */
public record OverlayMarkers(
    List<String> whiteouts, List<String> opaqueDirs, List<Special> specials) {

  /**
   * One entry a remote mount cannot show as it is.
   *
   * @param path where it is, relative to the layer root
   * @param type {@code c}, {@code b} (devices), {@code p} (FIFO), {@code f} (a regular file whose
   *     content the remote mount serves but whose xattrs or setuid and setgid bits it loses),
   *     {@code d} (a directory, ditto, or its sticky bit)
   * @param mode permission bits
   * @param links the other paths of the same inode (hardlinks), sorted
   */
  public record Special(
      String path,
      char type,
      int mode,
      long uid,
      long gid,
      long major,
      long minor,
      long mtimeSeconds,
      int mtimeNanos,
      Map<String, byte[]> xattrs,
      List<String> links) {
    public Special {
      checkRelative(path);
      if ("cbpfd".indexOf(type) < 0) {
        throw new IllegalArgumentException("unknown entry type '" + type + "' of \"" + path + "\"");
      }
      for (String x : xattrs.keySet()) {
        // The list comes from a peer: it may ask for nothing a layer may not set itself.
        if (XattrPolicy.of(x) != XattrPolicy.Verdict.KEEP) {
          throw new IllegalArgumentException("xattr " + x + " of \"" + path + "\" is not kept");
        }
      }
      if (type == 'd' && !links.isEmpty()) {
        throw new IllegalArgumentException("directory \"" + path + "\" has hardlinks");
      }
      links.forEach(OverlayMarkers::checkRelative);
      xattrs = Collections.unmodifiableMap(new TreeMap<>(xattrs));
      links = List.copyOf(links).stream().sorted().toList();
    }

    public boolean isNode() {
      return type == 'c' || type == 'b' || type == 'p';
    }
  }

  public OverlayMarkers(List<String> whiteouts, List<String> opaqueDirs) {
    this(whiteouts, opaqueDirs, List.of());
  }

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String OPAQUE_XATTR = "trusted.overlay.opaque";
  private static final int S_IFMT = 0170000;
  private static final int S_IFCHR = 0020000;
  private static final int S_IFBLK = 0060000;
  private static final int S_IFIFO = 0010000;
  private static final int S_IFDIR = 0040000;

  /** The most paths a list may hold; a real layer has far fewer markers than this. */
  public static final int MAX_PATHS = 100_000;

  public static final OverlayMarkers NONE = new OverlayMarkers(List.of(), List.of(), List.of());

  public OverlayMarkers {
    whiteouts = List.copyOf(whiteouts).stream().sorted().toList();
    opaqueDirs = List.copyOf(opaqueDirs).stream().sorted().toList();
    specials = List.copyOf(specials).stream().sorted(Comparator.comparing(Special::path)).toList();
    for (String p : whiteouts) {
      checkRelative(p);
    }
    for (String p : opaqueDirs) {
      checkRelative(p);
    }
  }

  public boolean isEmpty() {
    return whiteouts.isEmpty() && opaqueDirs.isEmpty() && specials.isEmpty();
  }

  /** Walks an unpacked layer tree (never following a link) and lists its markers. */
  public static OverlayMarkers scan(Path layerRoot) throws IOException {
    List<String> whiteouts = new ArrayList<>();
    List<String> opaque = new ArrayList<>();
    List<Path> specialPaths = new ArrayList<>();
    // Paths of inodes with more than one link, so a special's hardlinks come along.
    Map<Object, List<String>> multiLinked = new HashMap<>();
    Files.walkFileTree(
        layerRoot,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs)
              throws IOException {
            if (!dir.equals(layerRoot)
                && Posix.lgetxattr(dir, OPAQUE_XATTR)
                    .map(v -> new String(v, StandardCharsets.US_ASCII).equals("y"))
                    .orElse(false)) {
              opaque.add(layerRoot.relativize(dir).toString());
            }
            if (!dir.equals(layerRoot) && (hasSpecialModeBits(dir) || !keptXattrs(dir).isEmpty())) {
              specialPaths.add(dir);
            }
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            if (attrs.isSymbolicLink()) {
              return FileVisitResult.CONTINUE; // SFTP and NFS carry symlinks as they are
            }
            if ((Integer) Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS) > 1) {
              multiLinked
                  .computeIfAbsent(attrs.fileKey(), k -> new ArrayList<>())
                  .add(layerRoot.relativize(file).toString());
            }
            if (attrs.isOther()) {
              int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
              long rdev = (Long) Files.getAttribute(file, "unix:rdev", LinkOption.NOFOLLOW_LINKS);
              if ((mode & S_IFMT) == S_IFCHR && rdev == 0) {
                whiteouts.add(layerRoot.relativize(file).toString());
              } else {
                specialPaths.add(file);
              }
            } else if (hasSpecialModeBits(file) || !keptXattrs(file).isEmpty()) {
              specialPaths.add(file);
            }
            return FileVisitResult.CONTINUE;
          }
        });
    List<Special> specials = new ArrayList<>();
    Set<Object> done = new HashSet<>();
    for (Path p : specialPaths) {
      BasicFileAttributes a =
          Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      String rel = layerRoot.relativize(p).toString();
      List<String> links = new ArrayList<>();
      if (!a.isDirectory() && multiLinked.containsKey(a.fileKey())) {
        if (!done.add(a.fileKey())) {
          continue; // listed with its first path
        }
        multiLinked.get(a.fileKey()).stream().filter(l -> !l.equals(rel)).forEach(links::add);
      }
      specials.add(special(p, rel, a, links));
    }
    return new OverlayMarkers(whiteouts, opaque, specials);
  }

  private static Special special(Path p, String rel, BasicFileAttributes a, List<String> links)
      throws IOException {
    Map<String, Object> u = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
    int mode = (Integer) u.get("mode");
    long rdev = (Long) u.get("rdev");
    char type =
        switch (mode & S_IFMT) {
          case S_IFCHR -> 'c';
          case S_IFBLK -> 'b';
          case S_IFIFO -> 'p';
          case S_IFDIR -> 'd';
          default -> 'f';
        };
    java.nio.file.attribute.FileTime mtime = a.lastModifiedTime();
    java.time.Instant t = mtime.toInstant();
    return new Special(
        rel,
        type,
        mode & 07777,
        (Integer) u.get("uid"),
        (Integer) u.get("gid"),
        Posix.major(rdev),
        Posix.minor(rdev),
        t.getEpochSecond(),
        t.getNano(),
        keptXattrs(p),
        links);
  }

  /**
   * Setuid, setgid or sticky: SFTP carries only the nine permission bits (the export's MINA server
   * builds them from java.nio's PosixFilePermission), so su would lose setuid and /tmp its sticky
   * bit through sshfs.
   */
  private static boolean hasSpecialModeBits(Path p) throws IOException {
    return ((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07000) != 0;
  }

  /** The xattrs of the path that a layer may set (so not overlay's own). */
  static Map<String, byte[]> keptXattrs(Path p) throws IOException {
    Map<String, byte[]> out = new TreeMap<>();
    for (String name : Posix.llistxattr(p)) {
      if (XattrPolicy.of(name) == XattrPolicy.Verdict.KEEP) {
        Posix.lgetxattr(p, name).ifPresent(v -> out.put(name, v));
      }
    }
    return out;
  }

  public byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode w = root.putArray("whiteouts");
    whiteouts.forEach(w::add);
    ArrayNode o = root.putArray("opaqueDirs");
    opaqueDirs.forEach(o::add);
    ArrayNode sp = root.putArray("specials");
    for (Special e : specials) {
      ObjectNode n = sp.addObject();
      n.put("path", e.path());
      n.put("type", String.valueOf(e.type()));
      n.put("mode", e.mode());
      n.put("uid", e.uid());
      n.put("gid", e.gid());
      n.put("major", e.major());
      n.put("minor", e.minor());
      n.put("mtime", e.mtimeSeconds());
      n.put("mtimeNanos", e.mtimeNanos());
      ObjectNode x = n.putObject("xattrs");
      e.xattrs().forEach((k, v) -> x.put(k, Base64.getEncoder().encodeToString(v)));
      ArrayNode l = n.putArray("links");
      e.links().forEach(l::add);
    }
    try {
      return JSON.writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Reads the list a peer served; it is untrusted, so every path must stay inside the layer.
   *
   * @throws IOException when it is malformed or names a path outside the layer
   */
  public static OverlayMarkers parse(byte[] json) throws IOException {
    JsonNode root = JSON.readTree(json);
    if (root == null || !root.path("whiteouts").isArray() || !root.path("opaqueDirs").isArray()) {
      throw new IOException("overlay markers: expected whiteouts and opaqueDirs arrays");
    }
    try {
      return new OverlayMarkers(
          strings(root.get("whiteouts")), strings(root.get("opaqueDirs")), specials(root));
    } catch (IllegalArgumentException e) {
      throw new IOException("overlay markers: " + e.getMessage(), e);
    }
  }

  /** A list from a holder without specials (an older version) has none to restore. */
  private static List<Special> specials(JsonNode root) throws IOException {
    JsonNode array = root.path("specials");
    if (array.isMissingNode()) {
      return List.of();
    }
    if (!array.isArray() || array.size() > MAX_PATHS) {
      throw new IOException("overlay markers: specials must be an array of at most " + MAX_PATHS);
    }
    List<Special> out = new ArrayList<>();
    for (JsonNode n : array) {
      String type = n.path("type").asText();
      if (!n.path("path").isTextual() || type.length() != 1) {
        throw new IOException("overlay markers: not a special entry: " + n);
      }
      Map<String, byte[]> xattrs = new TreeMap<>();
      for (Map.Entry<String, JsonNode> x : n.path("xattrs").properties()) {
        xattrs.put(x.getKey(), Base64.getDecoder().decode(x.getValue().asText()));
      }
      out.add(
          new Special(
              n.get("path").asText(),
              type.charAt(0),
              n.path("mode").asInt() & 07777,
              n.path("uid").asLong(),
              n.path("gid").asLong(),
              n.path("major").asLong(),
              n.path("minor").asLong(),
              n.path("mtime").asLong(),
              n.path("mtimeNanos").asInt(),
              xattrs,
              n.path("links").isArray() ? strings(n.get("links")) : List.of()));
    }
    return out;
  }

  private static List<String> strings(JsonNode array) throws IOException {
    if (array.size() > MAX_PATHS) {
      throw new IOException("overlay markers: more than " + MAX_PATHS + " paths");
    }
    List<String> out = new ArrayList<>();
    for (JsonNode n : array) {
      if (!n.isTextual()) {
        throw new IOException("overlay markers: not a path: " + n);
      }
      out.add(n.asText());
    }
    return out;
  }

  private static void checkRelative(String p) {
    if (p.isEmpty()
        || p.startsWith("/")
        || p.indexOf('\0') >= 0
        || Path.of(p).normalize().startsWith("..")
        || !Path.of(p).normalize().toString().equals(p)) {
      throw new IllegalArgumentException("not a normalized path inside the layer: \"" + p + "\"");
    }
  }
}
