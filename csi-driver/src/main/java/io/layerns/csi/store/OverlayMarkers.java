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
import java.util.List;

/**
 * Where an unpacked layer tells overlayfs to hide what lies below: whiteouts (character devices
 * 0/0) and opaque directories ({@code trusted.overlay.opaque=y}).
 *
 * <p>Remote transports cannot carry these: SFTP has no device numbers and no extended attributes (a
 * whiteout read through sshfs fails with EIO, an opaque directory looks like any other), and NFSv4
 * carries no {@code trusted.*} attributes. So a holder says where they are (its HTTP export serves
 * this list) and the consumer re-creates them in small local layers beside the remote mount.
 *
 * @param whiteouts paths (relative to the layer root) of the whiteouts, sorted
 * @param opaqueDirs paths of the opaque directories, sorted
 */
public record OverlayMarkers(List<String> whiteouts, List<String> opaqueDirs) {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String OPAQUE_XATTR = "trusted.overlay.opaque";
  private static final int S_IFMT = 0170000;
  private static final int S_IFCHR = 0020000;

  /** The most paths a list may hold; a real layer has far fewer markers than this. */
  public static final int MAX_PATHS = 100_000;

  public static final OverlayMarkers NONE = new OverlayMarkers(List.of(), List.of());

  public OverlayMarkers {
    whiteouts = List.copyOf(whiteouts).stream().sorted().toList();
    opaqueDirs = List.copyOf(opaqueDirs).stream().sorted().toList();
    for (String p : whiteouts) {
      checkRelative(p);
    }
    for (String p : opaqueDirs) {
      checkRelative(p);
    }
  }

  public boolean isEmpty() {
    return whiteouts.isEmpty() && opaqueDirs.isEmpty();
  }

  /** Walks an unpacked layer tree (never following a link) and lists its markers. */
  public static OverlayMarkers scan(Path layerRoot) throws IOException {
    List<String> whiteouts = new ArrayList<>();
    List<String> opaque = new ArrayList<>();
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
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            if (attrs.isOther()) {
              int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
              long rdev = (Long) Files.getAttribute(file, "unix:rdev", LinkOption.NOFOLLOW_LINKS);
              if ((mode & S_IFMT) == S_IFCHR && rdev == 0) {
                whiteouts.add(layerRoot.relativize(file).toString());
              }
            }
            return FileVisitResult.CONTINUE;
          }
        });
    return new OverlayMarkers(whiteouts, opaque);
  }

  public byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode w = root.putArray("whiteouts");
    whiteouts.forEach(w::add);
    ArrayNode o = root.putArray("opaqueDirs");
    opaqueDirs.forEach(o::add);
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
      return new OverlayMarkers(strings(root.get("whiteouts")), strings(root.get("opaqueDirs")));
    } catch (IllegalArgumentException e) {
      throw new IOException("overlay markers: " + e.getMessage(), e);
    }
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
