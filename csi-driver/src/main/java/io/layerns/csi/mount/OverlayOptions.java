package io.layerns.csi.mount;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The mount options of one overlay: absolute paths when they fit, otherwise short relative links.
 *
 * <p>The legacy mount(2) call copies its option string into a single page (4096 bytes with the
 * NUL), so an image with many layers under a long store path cannot name them all. Like Docker's
 * overlay2 driver, we then mount from a working directory that holds one short symlink per
 * directory ({@code 0}, {@code 1}, ...), so each layer costs a few bytes; the kernel resolves the
 * links once at mount time, after which they may be deleted. The same fallback avoids escaping
 * rules: overlayfs splits lowerdir on {@code :} and mount(8) splits options on {@code ,}, and a
 * digest-named directory ({@code sha256:...}) contains a colon.
 *
 * @param options the {@code -o} argument
 * @param links when non-empty, link name to directory; the mount must run with its working
 *     directory holding exactly these links
 */
public record OverlayOptions(String options, Map<String, Path> links) {

  /**
   * Longest option string passed as absolute paths. Below the page size with room for what mount(8)
   * adds itself (it appends e.g. {@code ro} or SELinux context options).
   */
  static final int MAX_DIRECT_OPTIONS_BYTES = 3072;

  /** Overlayfs refuses more lower layers than this (OVL_MAX_STACK). */
  public static final int MAX_LAYERS = 500;

  /**
   * Plans an overlay mount.
   *
   * @param layersBaseFirst image layers, base first (manifest order)
   * @param upperDir the writable layer, or null for a read-only overlay
   * @param workDir overlayfs's work directory, with {@code upperDir}
   * @param emptyDirs empty directories used as padding below the base layer: a read-only overlay
   *     needs at least two lower layers and a writable one at least one
   */
  public static OverlayOptions plan(
      List<Path> layersBaseFirst, Path upperDir, Path workDir, List<Path> emptyDirs) {
    if ((upperDir == null) != (workDir == null)) {
      throw new IllegalArgumentException("upperDir and workDir go together");
    }
    if (layersBaseFirst.size() > MAX_LAYERS) {
      throw new IllegalArgumentException(
          "an overlay holds at most " + MAX_LAYERS + " layers, got " + layersBaseFirst.size());
    }
    // overlayfs takes the topmost layer first.
    List<Path> lowerTopFirst = new ArrayList<>(layersBaseFirst.reversed());
    int needed = upperDir == null ? 2 : 1;
    for (int i = 0; lowerTopFirst.size() < needed; i++) {
      lowerTopFirst.add(emptyDirs.get(i));
    }

    List<Path> all = new ArrayList<>(lowerTopFirst);
    if (upperDir != null) {
      all.add(upperDir);
      all.add(workDir);
    }
    List<String> direct = all.stream().map(p -> p.toAbsolutePath().normalize().toString()).toList();
    String directOptions = render(direct, lowerTopFirst.size(), upperDir != null);
    boolean plain = direct.stream().allMatch(OverlayOptions::isPlain);
    if (plain
        && directOptions.getBytes(StandardCharsets.UTF_8).length <= MAX_DIRECT_OPTIONS_BYTES) {
      return new OverlayOptions(directOptions, Map.of());
    }

    Map<String, Path> links = new LinkedHashMap<>();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < lowerTopFirst.size(); i++) {
      names.add(Integer.toString(i));
      links.put(Integer.toString(i), lowerTopFirst.get(i).toAbsolutePath().normalize());
    }
    if (upperDir != null) {
      names.add("u");
      links.put("u", upperDir.toAbsolutePath().normalize());
      names.add("w");
      links.put("w", workDir.toAbsolutePath().normalize());
    }
    return new OverlayOptions(render(names, lowerTopFirst.size(), upperDir != null), links);
  }

  private static String render(List<String> paths, int lowers, boolean writable) {
    StringBuilder b =
        new StringBuilder("lowerdir=").append(String.join(":", paths.subList(0, lowers)));
    if (writable) {
      b.append(",upperdir=")
          .append(paths.get(lowers))
          .append(",workdir=")
          .append(paths.get(lowers + 1));
    }
    return b.toString();
  }

  /** A path mount(8) and overlayfs take literally: no separator, escape, quote or blank. */
  private static boolean isPlain(String path) {
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c == ':' || c == ',' || c == '\\' || c == '"' || c == '\'' || Character.isWhitespace(c)) {
        return false;
      }
    }
    return true;
  }
}
