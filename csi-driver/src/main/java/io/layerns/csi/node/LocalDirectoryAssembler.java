package io.layerns.csi.node;

import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Serves images whose layers are already unpacked in a directory, one folder per image reference.
 *
 * <p>Layout: {@code <root>/<URL-encoded image reference>/<n>/}, where {@code n} = 0 is the base
 * layer and higher numbers lie above it. Nothing is fetched or counted, so {@link #release} has
 * nothing to undo. Used by tests and csi-sanity, and by a node that is given pre-unpacked images.
 */
public final class LocalDirectoryAssembler implements VolumeAssembler {

  private final Path root;

  public LocalDirectoryAssembler(Path root) {
    this.root = root;
  }

  /** The folder that holds the layers of {@code image}. */
  public Path imageDirectory(String image) {
    String name = URLEncoder.encode(image, StandardCharsets.UTF_8);
    if (name.isEmpty() || name.equals(".") || name.equals("..")) {
      throw new IllegalArgumentException("not an image reference: '" + image + "'");
    }
    return root.resolve(name);
  }

  @Override
  public List<Path> assemble(AssemblyRequest request) throws ImageNotFoundException, IOException {
    Path dir = imageDirectory(request.image());
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      throw new ImageNotFoundException(request.image(), "no folder " + dir);
    }
    List<Integer> indexes = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path e : entries) {
        String n = e.getFileName().toString();
        if (!n.matches("0|[1-9][0-9]{0,5}") || !Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS)) {
          throw new IOException(
              "unexpected entry "
                  + e
                  + ": an image folder holds only layer folders named 0, 1, ...");
        }
        indexes.add(Integer.parseInt(n));
      }
    }
    indexes.sort(Comparator.naturalOrder());
    for (int i = 0; i < indexes.size(); i++) {
      if (indexes.get(i) != i) {
        throw new IOException("layer folder " + i + " missing in " + dir);
      }
    }
    if (indexes.isEmpty()) {
      throw new ImageNotFoundException(request.image(), "folder " + dir + " holds no layer");
    }
    return indexes.stream().map(i -> dir.resolve(Integer.toString(i))).toList();
  }

  @Override
  public void release(String volumeId) {
    // Local folders are neither fetched nor reference-counted here.
  }
}
