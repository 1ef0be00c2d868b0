package io.layerns.csi.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collection;
import java.util.Set;
import java.util.TreeSet;

/**
 * The layers the operator has listed in this node's spec, kept beside the store: after a restart
 * the agent can still tell a copy the operator stopped listing while it was down (drop it now) from
 * a fresh import the operator has not seen yet (keep it for the arrival grace).
 */
final class ListedLayers {
  private final Path file;
  private final Set<String> digests = new TreeSet<>();

  ListedLayers(Path file) throws IOException {
    this.file = file;
    if (Files.exists(file)) {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (line.startsWith("sha256:")) {
          digests.add(line.strip());
        }
      }
    }
  }

  synchronized boolean contains(String digest) {
    return digests.contains(digest);
  }

  /**
   * Records {@code listed} and forgets what is neither listed nor in {@code keep} (the copies
   * held); written only when something changed.
   */
  synchronized void update(Collection<String> listed, Collection<String> keep) throws IOException {
    Set<String> next = new TreeSet<>(digests);
    next.addAll(listed);
    next.removeIf(d -> !listed.contains(d) && !keep.contains(d));
    if (!next.equals(digests)) {
      digests.clear();
      digests.addAll(next);
      save();
    }
  }

  synchronized void remove(String digest) throws IOException {
    if (digests.remove(digest)) {
      save();
    }
  }

  private void save() throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.write(tmp, digests, StandardCharsets.UTF_8);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }
}
