package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The store's record of private content: manifests (and indexes) that a registry served only with
 * credentials, the configs they name, and the layers this node came to know only through such
 * images, each with the repositories known to hold it. Private manifests and configs are never
 * served to peers; any private piece reaches a pod only after that pod's own credentials read it
 * from one of these repositories (see {@code node.ImageAccess}).
 *
 * <pre>
 * root/private/sha256/HEX          a manifest or config: one line per repository, registry/repository
 * root/private/layers/sha256/HEX   a layer, the same way
 * </pre>
 *
 * <p>A repository is listed only when it served the piece's own bytes to this node (or, for a layer
 * fetched from a peer, when it is the repository whose manifest and config the pod was let read):
 * serving one document proves nothing about the others. Marks are only added: an anonymous read of
 * the same digest elsewhere does not clear one, since a registry that serves it anonymously may be
 * anyone's. Layers are kept apart because they are shared with peers all the same (they are
 * content-addressed; sharing them is the point). Files are written under the store's tmp/ and
 * renamed into place.
 */
public final class PrivateImages {
  private static final Pattern HEX = Pattern.compile("[a-f0-9]{64}");

  private final Path dir;
  private final Path layers;
  private final Path tmp;

  /** The record of the store rooted at {@code storeRoot}. */
  public PrivateImages(Path storeRoot) {
    this.dir = storeRoot.resolve("private").resolve("sha256");
    this.layers = storeRoot.resolve("private").resolve("layers").resolve("sha256");
    this.tmp = storeRoot.resolve("tmp");
  }

  /**
   * The repositories that hold the manifest or config {@code digest} privately; empty when it is
   * public or unknown.
   */
  public Set<String> repositories(Digest digest) throws IOException {
    return read(dir.resolve(digest.hex()));
  }

  /** The repositories that hold the private layer {@code digest}; empty when it is not private. */
  public Set<String> layerRepositories(Digest digest) throws IOException {
    return read(layers.resolve(digest.hex()));
  }

  /**
   * Every private layer with its repositories, from one listing of the marks (for callers that look
   * at every layer of the store).
   */
  public Map<Digest, Set<String>> layerMarks() throws IOException {
    Map<Digest, Set<String>> out = new HashMap<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(layers)) {
      for (Path f : files) {
        String hex = f.getFileName().toString();
        if (HEX.matcher(hex).matches()) {
          Set<String> repositories = read(f);
          if (!repositories.isEmpty()) {
            out.put(Digest.parse("sha256:" + hex), repositories);
          }
        }
      }
    } catch (NoSuchFileException e) {
      // No private layer yet.
    }
    return out;
  }

  /** Marks the layer {@code digest} as private to {@code repositories} (added to those known). */
  public void recordLayer(Digest digest, Collection<String> repositories) throws IOException {
    write(layers, layers.resolve(digest.hex()), repositories);
  }

  private static Set<String> read(Path file) throws IOException {
    Set<String> out = new TreeSet<>();
    try {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (!line.isBlank()) {
          out.add(line.strip());
        }
      }
    } catch (NoSuchFileException e) {
      // Public, or never seen.
    }
    return out;
  }

  /** Whether {@code digest} is a private document. */
  public boolean isPrivate(Digest digest) {
    return Files.exists(file(digest));
  }

  /** Marks {@code digest} as private to {@code repositories} (added to those already known). */
  public void record(Digest digest, Collection<String> repositories) throws IOException {
    write(dir, file(digest), repositories);
  }

  private synchronized void write(Path folder, Path file, Collection<String> repositories)
      throws IOException {
    Set<String> all = read(file);
    if (all.containsAll(repositories)) {
      return;
    }
    for (String r : repositories) {
      if (r.isBlank() || r.contains("\n")) {
        throw new IllegalArgumentException("not a repository name: \"" + r + "\"");
      }
    }
    all.addAll(repositories);
    Files.createDirectories(folder);
    Files.createDirectories(tmp);
    Path work = Files.createTempFile(tmp, "private-", "");
    try {
      try (FileChannel ch = FileChannel.open(work, StandardOpenOption.WRITE)) {
        ch.write(StandardCharsets.UTF_8.encode(String.join("\n", all) + "\n"));
        ch.force(true);
      }
      Files.move(work, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(work);
    }
  }

  private Path file(Digest digest) {
    return dir.resolve(digest.hex());
  }
}
