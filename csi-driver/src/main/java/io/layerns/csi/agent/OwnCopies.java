package io.layerns.csi.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which layers this node pulled or read for itself, and which of those it has let go: what it would
 * still keep without layerns, for the namespace's savings (issue 18). A layer the agent fetched
 * only because placement assigned it is not the node's own (without layerns it would never have
 * come), unless a volume here reads it. Kept in a file beside the store, so a restart forgets
 * nothing.
 */
final class OwnCopies {
  private static final Logger LOG = LoggerFactory.getLogger(OwnCopies.class);

  /**
   * The most released layers remembered; the oldest are forgotten first. Each is ~75 bytes of the
   * node's LayerStore status, which must stay far below etcd's request limit beside its layers.
   */
  static final int MAX_RELEASED = 1_000;

  private final Path file;
  private final Set<String> placed = new TreeSet<>();
  private final Set<String> own = new TreeSet<>();
  private final LinkedHashSet<String> released = new LinkedHashSet<>();

  OwnCopies(Path file) throws IOException {
    this.file = file;
    if (Files.exists(file)) {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        String[] kv = line.strip().split(" ", 2);
        if (kv.length == 2 && kv[1].startsWith("sha256:")) {
          switch (kv[0]) {
            case "placed" -> placed.add(kv[1]);
            case "own" -> own.add(kv[1]);
            case "released" -> released.add(kv[1]);
            default -> {} // a line of a later version: ignored
          }
        }
      }
    }
  }

  /** The agent starts fetching {@code digest} because placement assigned it. */
  synchronized void placing(String digest) {
    if (placed.add(digest)) {
      save();
    }
  }

  /**
   * Takes in what the node holds and what its volumes read now: a copy it holds that placement did
   * not bring, or a layer a volume reads, is its own; an own layer neither held nor read any more
   * is released. {@code fetching} are the placement fetches under way, still to arrive.
   */
  synchronized void observe(
      Collection<String> held, Collection<String> read, Collection<String> fetching) {
    Set<String> nowOwn = new TreeSet<>(read);
    held.stream().filter(d -> !placed.contains(d)).forEach(nowOwn::add);
    Set<String> still = new TreeSet<>(held);
    still.addAll(read);
    boolean changed = false;
    for (String d : List.copyOf(own)) {
      if (!still.contains(d)) {
        own.remove(d);
        released.remove(d);
        released.add(d);
        changed = true;
      }
    }
    changed |= own.addAll(nowOwn);
    changed |= released.removeAll(still);
    changed |= placed.removeIf(d -> !held.contains(d) && !fetching.contains(d));
    while (released.size() > MAX_RELEASED) {
      released.remove(released.iterator().next());
      changed = true;
    }
    if (changed) {
      save();
    }
  }

  /** Released layers, the most recent last. */
  synchronized List<String> released() {
    return List.copyOf(released);
  }

  /** A file that cannot be written (a full disk) must not stop the agent's reports: logged. */
  private void save() {
    List<String> lines = new ArrayList<>();
    placed.forEach(d -> lines.add("placed " + d));
    own.forEach(d -> lines.add("own " + d));
    released.forEach(d -> lines.add("released " + d));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try {
      Files.write(tmp, lines, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      LOG.warn("could not write {}; kept in memory: {}", file, e.toString());
    }
  }
}
