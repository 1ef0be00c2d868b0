package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.Set;
import java.util.TreeSet;

/**
 * The store's record of private image documents: manifests (and indexes) that a registry served
 * only with credentials, and the configs they name, each with the repositories that refused an
 * anonymous read. Such a document is never served to peers, and a pod may use it only after its own
 * pull secrets read it from one of these repositories (see {@code node.ImageAccess}).
 *
 * <pre>
 * root/private/sha256/HEX    one line per repository: registry/repository
 * </pre>
 *
 * <p>Marks are only added: an anonymous read of the same digest elsewhere does not clear one, since
 * a registry that serves it anonymously may be anyone's. Files are written under the store's tmp/
 * and renamed into place.
 */
public final class PrivateImages {
  private final Path dir;
  private final Path tmp;

  /** The record of the store rooted at {@code storeRoot}. */
  public PrivateImages(Path storeRoot) {
    this.dir = storeRoot.resolve("private").resolve("sha256");
    this.tmp = storeRoot.resolve("tmp");
  }

  /** The repositories that hold {@code digest} privately; empty when it is public or unknown. */
  public Set<String> repositories(Digest digest) throws IOException {
    Set<String> out = new TreeSet<>();
    try {
      for (String line : Files.readAllLines(file(digest), StandardCharsets.UTF_8)) {
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
  public synchronized void record(Digest digest, Collection<String> repositories)
      throws IOException {
    Set<String> all = repositories(digest);
    if (all.containsAll(repositories)) {
      return;
    }
    for (String r : repositories) {
      if (r.isBlank() || r.contains("\n")) {
        throw new IllegalArgumentException("not a repository name: \"" + r + "\"");
      }
    }
    all.addAll(repositories);
    Files.createDirectories(dir);
    Files.createDirectories(tmp);
    Path work = Files.createTempFile(tmp, "private-", "");
    try {
      try (FileChannel ch = FileChannel.open(work, StandardOpenOption.WRITE)) {
        ch.write(StandardCharsets.UTF_8.encode(String.join("\n", all) + "\n"));
        ch.force(true);
      }
      Files.move(
          work, file(digest), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(work);
    }
  }

  private Path file(Digest digest) {
    return dir.resolve(digest.hex());
  }
}
