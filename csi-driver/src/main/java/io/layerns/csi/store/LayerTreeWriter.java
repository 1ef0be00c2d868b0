package io.layerns.csi.store;

import io.layerns.csi.store.posix.Posix;
import io.layerns.csi.store.tar.TarEntry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Writes tar entries into one layer directory in overlay format, and never outside it.
 *
 * <p>Containment: names are resolved lexically within the root ({@link EntryPath}); every parent
 * component must be a real directory (a symlink parent is refused, never followed); files are
 * created with O_EXCL|O_NOFOLLOW after removing what was there; ownership, modes, times and xattrs
 * are set with calls that do not follow symlinks. The directory lies in the store's private
 * temporary space (mode 0700, written by this writer alone), so what was checked stays true until
 * it is used.
 */
final class LayerTreeWriter {
  private static final String WHITEOUT = ".wh.";
  private static final String OPAQUE = ".wh..wh..opq";
  private static final String OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";
  private static final int IMPLICIT_DIRECTORY_MODE = 0755;

  private final Path root;
  private final Digest layer;
  // Real directories seen or made, so that each entry does not re-check its whole parent chain.
  private final Set<EntryPath> directories = new HashSet<>();
  // Non-directory entries of this layer: the only things a hardlink may point at.
  private final Set<EntryPath> linkable = new HashSet<>();
  // Directory times are set last: writing a child changes its parent's mtime.
  private final Map<EntryPath, TarEntry> directoryTimes = new LinkedHashMap<>();
  private final Map<String, Integer> dropped = new java.util.TreeMap<>();
  // Each regular file's content hash, by inode, taken as it is written: the tree manifest then
  // needs no second read of every file (that read was a third of an import's CPU).
  private final Map<Long, TreeManifest.Content> written = new java.util.HashMap<>();
  private long contentBytes;

  LayerTreeWriter(Path root, Digest layer) {
    this.root = root;
    this.layer = layer;
    directories.add(new EntryPath(java.util.List.of()));
  }

  /** The content hash of each regular file written, by inode (the last write of that inode). */
  Map<Long, TreeManifest.Content> writtenContent() {
    return written;
  }

  /** Bytes of regular file content written, each hardlinked file counted once. */
  long contentBytes() {
    return contentBytes;
  }

  void apply(TarEntry entry, InputStream content) throws IOException {
    EntryPath path;
    try {
      path = EntryPath.parse(entry.name());
    } catch (EntryPath.InvalidEntryPath e) {
      throw refuse(entry, e.getMessage());
    }
    for (String xattr : entry.xattrs().keySet()) {
      if (XattrPolicy.of(xattr) == XattrPolicy.Verdict.REFUSE) {
        throw refuse(entry, XattrPolicy.refusal(xattr));
      }
    }
    try {
      if (!path.isRoot() && path.fileName().startsWith(WHITEOUT)) {
        whiteout(entry, path);
        return;
      }
      switch (entry.type()) {
        case DIRECTORY -> directory(entry, path);
        case REGULAR -> regularFile(entry, path, content);
        case SYMLINK -> symlink(entry, path);
        case HARDLINK -> hardlink(entry, path);
        case CHARACTER_DEVICE -> node(entry, path, Posix.NodeType.CHARACTER_DEVICE);
        case BLOCK_DEVICE -> node(entry, path, Posix.NodeType.BLOCK_DEVICE);
        case FIFO -> node(entry, path, Posix.NodeType.FIFO);
        case UNSUPPORTED ->
            throw refuse(entry, "unsupported entry type '" + printable(entry.typeFlag()) + "'");
      }
    } catch (InvalidPathException e) {
      throw refuse(entry, "name cannot be a path on this host (is the JVM's locale UTF-8?)");
    }
  }

  /** Sets the directory times, once every entry is written. */
  void finish() throws IOException {
    for (Map.Entry<EntryPath, TarEntry> d : directoryTimes.entrySet()) {
      setTime(d.getKey().in(root), d.getValue());
    }
  }

  private void directory(TarEntry entry, EntryPath path) throws IOException {
    Path target = path.in(root);
    if (!path.isRoot()) {
      ensureDirectory(entry, path.parent());
      BasicFileAttributes existing = lstat(target);
      if (existing == null || !existing.isDirectory()) {
        removeExisting(path);
        Files.createDirectory(target);
      }
      directories.add(path);
    }
    setOwnerModeXattrs(target, entry);
    directoryTimes.put(path, entry);
  }

  private void regularFile(TarEntry entry, EntryPath path, InputStream content) throws IOException {
    if (path.isRoot()) {
      throw refuse(entry, "the layer root can only be a directory");
    }
    ensureDirectory(entry, path.parent());
    removeExisting(path);
    Path target = path.in(root);
    // CREATE_NEW is O_EXCL: it never opens, let alone follows, something already there.
    try (OutputStream out =
        Files.newOutputStream(
            target,
            StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE,
            LinkOption.NOFOLLOW_LINKS)) {
      java.security.MessageDigest sha = Digest.newSha256();
      long size = content.transferTo(new java.security.DigestOutputStream(out, sha));
      long inode = (Long) Files.getAttribute(target, "unix:ino", LinkOption.NOFOLLOW_LINKS);
      written.put(inode, new TreeManifest.Content(size, sha.digest()));
    }
    contentBytes += entry.size();
    setOwnerModeXattrs(target, entry);
    setTime(target, entry);
    linkable.add(path);
  }

  private void symlink(TarEntry entry, EntryPath path) throws IOException {
    if (path.isRoot()) {
      throw refuse(entry, "the layer root can only be a directory");
    }
    if (entry.linkName().isEmpty()) {
      throw refuse(entry, "symlink has an empty target");
    }
    ensureDirectory(entry, path.parent());
    removeExisting(path);
    Path target = path.in(root);
    // The target is stored as written: it is resolved later, inside the pod's view.
    Posix.symlink(entry.linkName(), target);
    Posix.lchown(target, entry.uid(), entry.gid());
    setXattrs(target, entry);
    setTime(target, entry);
    linkable.add(path);
  }

  /**
   * A device node or FIFO, made as containerd makes it as root: mknod with the entry's mode and
   * numbers, then owner, mode, xattrs and time. A character device 0/0 is what overlayfs reads as a
   * whiteout, so such an entry hides the path in the layers below, as it does under containerd. The
   * node is never opened here; the store keeps layers where only root can reach them, and volumes
   * are mounted nodev (see docs/architecture.md, "Hostile input").
   */
  private void node(TarEntry entry, EntryPath path, Posix.NodeType type) throws IOException {
    if (path.isRoot()) {
      throw refuse(entry, "the layer root can only be a directory");
    }
    if (entry.devMajor() < 0
        || entry.devMajor() > 0xffffffffL
        || entry.devMinor() < 0
        || entry.devMinor() > 0xffffffffL) {
      throw refuse(
          entry,
          "device number %d:%d is out of range".formatted(entry.devMajor(), entry.devMinor()));
    }
    ensureDirectory(entry, path.parent());
    removeExisting(path);
    Path target = path.in(root);
    Posix.mknod(target, type, 0600, entry.devMajor(), entry.devMinor());
    setOwnerModeXattrs(target, entry);
    setTime(target, entry);
    linkable.add(path);
  }

  private void hardlink(TarEntry entry, EntryPath path) throws IOException {
    EntryPath existing;
    try {
      existing = EntryPath.parse(entry.linkName());
    } catch (EntryPath.InvalidEntryPath e) {
      throw refuse(
          entry,
          "hardlink target "
              + LayerRefusedException.quote(entry.linkName())
              + ": "
              + e.getMessage());
    }
    if (!linkable.contains(existing)) {
      throw refuse(
          entry,
          "hardlink target "
              + LayerRefusedException.quote(entry.linkName())
              + " is not an earlier file of this layer");
    }
    if (existing.equals(path)) {
      return; // a link to itself changes nothing
    }
    ensureDirectory(entry, existing.parent());
    ensureDirectory(entry, path.parent());
    removeExisting(path);
    // link(2) never follows a symlink it is given, so a link to a symlink links the symlink.
    Files.createLink(path.in(root), existing.in(root));
    linkable.add(path);
  }

  private void whiteout(TarEntry entry, EntryPath path) throws IOException {
    String name = path.fileName();
    Path parent = ensureDirectory(entry, path.parent());
    if (name.equals(OPAQUE)) {
      Posix.lsetxattr(parent, OVERLAY_OPAQUE_XATTR, "y".getBytes(StandardCharsets.US_ASCII));
      return;
    }
    if (name.startsWith(WHITEOUT + WHITEOUT)) {
      return; // aufs bookkeeping such as .wh..wh.plnk: nothing to hide, no meaning in overlay
    }
    String hidden = name.substring(WHITEOUT.length());
    if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..")) {
      throw refuse(entry, "whiteout names no file");
    }
    Path target = parent.resolve(hidden);
    if (lstat(target) != null) {
      // Whiteouts hide files of lower layers only; an entry of this layer wins (OCI image spec).
      return;
    }
    Posix.mknodWhiteout(target);
  }

  /** Makes sure each component of {@code dir} is a real directory, creating missing ones. */
  private Path ensureDirectory(TarEntry entry, EntryPath dir) throws IOException {
    for (int i = 1; i <= dir.components().size(); i++) {
      EntryPath prefix = new EntryPath(dir.components().subList(0, i));
      if (directories.contains(prefix)) {
        continue;
      }
      Path p = prefix.in(root);
      BasicFileAttributes attrs = lstat(p);
      if (attrs == null) {
        // Archives may omit parent entries; container tools create them with mode 0755.
        Files.createDirectory(p);
        Posix.chmod(p, IMPLICIT_DIRECTORY_MODE);
      } else if (attrs.isSymbolicLink()) {
        throw refuse(
            entry, "parent \"" + prefix + "\" is a symlink; the unpacker never writes through one");
      } else if (!attrs.isDirectory()) {
        throw refuse(entry, "parent \"" + prefix + "\" is not a directory");
      }
      directories.add(prefix);
    }
    return dir.in(root);
  }

  /** Removes what a later entry of the same name replaces, without following anything. */
  private void removeExisting(EntryPath path) throws IOException {
    Path target = path.in(root);
    BasicFileAttributes attrs = lstat(target);
    if (attrs == null) {
      return;
    }
    if (attrs.isDirectory()) {
      Trees.delete(target);
      directories.removeIf(d -> d.isWithin(path));
      directoryTimes.keySet().removeIf(d -> d.isWithin(path));
      linkable.removeIf(l -> l.isWithin(path));
    } else {
      Files.delete(target);
      linkable.remove(path);
    }
  }

  private void setOwnerModeXattrs(Path target, TarEntry entry) throws IOException {
    Posix.lchown(target, entry.uid(), entry.gid());
    // After chown, which clears setuid and setgid.
    Posix.chmod(target, entry.mode());
    setXattrs(target, entry);
  }

  private void setXattrs(Path target, TarEntry entry) throws IOException {
    for (Map.Entry<String, byte[]> x : entry.xattrs().entrySet()) {
      String name = x.getKey();
      boolean userOnSpecial =
          name.startsWith("user.")
              && entry.type() != TarEntry.Type.REGULAR
              && entry.type() != TarEntry.Type.DIRECTORY;
      if (XattrPolicy.of(name) == XattrPolicy.Verdict.DROP || userOnSpecial) {
        // Linux keeps user.* on files and directories only (containerd skips them too).
        dropped.merge(name, 1, Integer::sum);
        continue;
      }
      Posix.lsetxattr(target, name, x.getValue());
    }
  }

  /** Xattrs of the layer that were not set, by name, with how many entries had each. */
  Map<String, Integer> droppedXattrs() {
    return dropped;
  }

  private static void setTime(Path target, TarEntry entry) throws IOException {
    Posix.lutimes(target, entry.mtimeSeconds(), entry.mtimeNanos());
  }

  private LayerRefusedException refuse(TarEntry entry, String problem) {
    return new LayerRefusedException(layer, entry.name(), problem);
  }

  private static String printable(char c) {
    return c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\x%02x", (int) c);
  }

  static BasicFileAttributes lstat(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
  }
}
