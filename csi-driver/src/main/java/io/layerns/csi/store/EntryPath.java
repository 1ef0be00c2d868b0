package io.layerns.csi.store;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A tar entry's name resolved lexically inside the layer root: {@code ./} and empty components
 * dropped, {@code ..} applied without ever leaving the root. Symlinks are not resolved here; the
 * tree writer refuses to pass through them.
 *
 * @param components the path's components below the root; empty for the root itself
 */
record EntryPath(List<String> components) {
  private static final int NAME_MAX = 255;

  /** An entry name that cannot be placed inside the layer root. */
  static final class InvalidEntryPath extends Exception {
    private static final long serialVersionUID = 1L;

    InvalidEntryPath(String problem) {
      super(problem, null, false, false);
    }
  }

  static EntryPath parse(String name) throws InvalidEntryPath {
    if (name.isEmpty()) {
      throw new InvalidEntryPath("empty name");
    }
    if (name.indexOf('\0') >= 0) {
      throw new InvalidEntryPath("name contains a NUL byte");
    }
    if (name.startsWith("/")) {
      throw new InvalidEntryPath("absolute path");
    }
    List<String> components = new ArrayList<>();
    for (String part : name.split("/")) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        if (components.isEmpty()) {
          throw new InvalidEntryPath("path escapes the layer root");
        }
        components.removeLast();
        continue;
      }
      if (part.getBytes(StandardCharsets.UTF_8).length > NAME_MAX) {
        throw new InvalidEntryPath("a path component is longer than 255 bytes");
      }
      components.add(part);
    }
    return new EntryPath(List.copyOf(components));
  }

  boolean isRoot() {
    return components.isEmpty();
  }

  EntryPath parent() {
    return new EntryPath(components.subList(0, components.size() - 1));
  }

  String fileName() {
    return components.getLast();
  }

  EntryPath sibling(String name) {
    List<String> c = new ArrayList<>(parent().components);
    c.add(name);
    return new EntryPath(List.copyOf(c));
  }

  /** Whether this path is {@code other} or lies below it. */
  boolean isWithin(EntryPath other) {
    return components.size() >= other.components.size()
        && components.subList(0, other.components.size()).equals(other.components);
  }

  Path in(Path root) {
    Path p = root;
    for (String c : components) {
      p = p.resolve(c);
    }
    return p;
  }

  @Override
  public String toString() {
    return isRoot() ? "." : String.join("/", components);
  }
}
