package io.layerns.csi.node;

import io.layerns.csi.store.Digest;
import io.layerns.csi.store.OverlayMarkers;
import io.layerns.csi.store.Trees;
import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Small local layers that put back, around a remotely mounted layer, the whiteouts and opaque
 * directories the remote transport cannot carry (see {@link OverlayMarkers}).
 *
 * <p>For layer L they are: <i>below</i>, stacked just under L, holding each opaque directory of L
 * as an empty directory marked opaque, so it hides what the layers under L have there while L's own
 * entries (above it) still show; and <i>above</i>, stacked just over L, holding a whiteout at each
 * path L whites out, so it hides L's unreadable remote entry and everything under it, while layers
 * above L still show theirs; <i>above</i> also holds L's device nodes and FIFOs (made here with
 * their numbers) and copies of L's files and directories that carry xattrs (capabilities, ACLs),
 * which the transports drop. The directories of <i>above</i> copy the owner, mode and times of L's,
 * since the upper-most layer holding a directory decides what the merged one looks like.
 *
 * <p>Layout: {@code root/<hex>/below/} and {@code root/<hex>/above/}, built in a temporary folder
 * and renamed into place, so they are either whole or absent; they depend only on the layer, so
 * every volume shares them.
 */
final class OverlayShims {

  private static final String OPAQUE_XATTR = "trusted.overlay.opaque";

  private final Path root;

  OverlayShims(Path root) {
    this.root = root;
  }

  /**
   * The lower dirs that show {@code layerDir} with its markers, base first: below (if it has opaque
   * dirs), the layer, above (if it has whiteouts).
   */
  List<Path> around(Digest layer, Path layerDir, OverlayMarkers markers) throws IOException {
    if (markers.isEmpty()) {
      return List.of(layerDir);
    }
    Path dir = root.resolve(layer.hex());
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      build(dir, layerDir, markers);
    }
    List<Path> out = new ArrayList<>(3);
    if (!markers.opaqueDirs().isEmpty()) {
      out.add(dir.resolve("below"));
    }
    out.add(layerDir);
    if (!markers.whiteouts().isEmpty() || !markers.specials().isEmpty()) {
      out.add(dir.resolve("above"));
    }
    return out;
  }

  private void build(Path dir, Path layerDir, OverlayMarkers markers) throws IOException {
    Files.createDirectories(root);
    Path work = Files.createTempDirectory(root, ".build-" + dir.getFileName() + "-");
    try {
      Map<Path, Posix.DirectoryAttributes> made = new java.util.LinkedHashMap<>();
      Path below = work.resolve("below");
      for (String d : markers.opaqueDirs()) {
        Path opaque = makeDirs(below, Path.of(d), layerDir, made);
        Posix.lsetxattr(opaque, OPAQUE_XATTR, new byte[] {'y'});
      }
      Path above = work.resolve("above");
      for (String w : markers.whiteouts()) {
        Path rel = Path.of(w);
        Path parent = makeDirs(above, rel.getParent(), layerDir, made);
        Path whiteout = parent.resolve(rel.getFileName());
        if (!Files.exists(whiteout, LinkOption.NOFOLLOW_LINKS)) {
          Posix.mknodWhiteout(whiteout);
        }
      }
      for (OverlayMarkers.Special e : markers.specials()) {
        restore(above, layerDir, e, made);
      }
      // Times last, deepest first: making a child changes its parent's mtime.
      List<Map.Entry<Path, Posix.DirectoryAttributes>> dirs = new ArrayList<>(made.entrySet());
      for (Map.Entry<Path, Posix.DirectoryAttributes> e : dirs.reversed()) {
        if (e.getValue() != null) {
          Files.setLastModifiedTime(e.getKey(), e.getValue().lastModified());
        }
      }
      try {
        Files.move(work, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
        // Another volume built the same shims meanwhile; theirs are identical.
        Trees.delete(work);
      }
    } catch (IOException | RuntimeException e) {
      Trees.delete(work);
      throw e;
    }
  }

  /**
   * Puts in {@code above} an entry the remote mount cannot show as it is: a device node or FIFO
   * made here with its numbers, or a copy of a file (read through the mount) or a directory with
   * its xattrs; with its hardlinks, owner, mode and time.
   */
  private static void restore(
      Path above,
      Path layerDir,
      OverlayMarkers.Special e,
      Map<Path, Posix.DirectoryAttributes> made)
      throws IOException {
    Path rel = Path.of(e.path());
    Path target;
    if (e.type() == 'd') {
      target = makeDirs(above, rel, layerDir, made);
    } else {
      target = makeDirs(above, rel.getParent(), layerDir, made).resolve(rel.getFileName());
      Files.deleteIfExists(target); // a whiteout of the same path cannot be: the layer has it
      switch (e.type()) {
        case 'c' ->
            Posix.mknod(target, Posix.NodeType.CHARACTER_DEVICE, 0600, e.major(), e.minor());
        case 'b' -> Posix.mknod(target, Posix.NodeType.BLOCK_DEVICE, 0600, e.major(), e.minor());
        case 'p' -> Posix.mknod(target, Posix.NodeType.FIFO, 0600, 0, 0);
        default -> {
          // The layer is a peer's mount: a symlink there must not turn this copy into a read
          // of the host's own files.
          try (var source = Posix.openBeneath(layerDir, e.path());
              var out =
                  java.nio.channels.FileChannel.open(
                      target,
                      java.nio.file.StandardOpenOption.CREATE_NEW,
                      java.nio.file.StandardOpenOption.WRITE)) {
            long size = source.size();
            for (long done = 0; done < size; ) {
              done += source.transferTo(done, size - done, out);
            }
          } catch (IOException x) {
            throw new IOException(
                "the remote layer has no regular file at \""
                    + e.path()
                    + "\" to copy without following a symlink: "
                    + x.getMessage(),
                x);
          }
        }
      }
    }
    Posix.lchown(target, e.uid(), e.gid());
    Posix.chmod(target, e.mode());
    for (Map.Entry<String, byte[]> x : e.xattrs().entrySet()) {
      Posix.lsetxattr(target, x.getKey(), x.getValue());
    }
    if (e.type() != 'd') {
      Posix.lutimes(target, e.mtimeSeconds(), e.mtimeNanos());
      for (String link : e.links()) {
        Path l = Path.of(link);
        Path linkPath = makeDirs(above, l.getParent(), layerDir, made).resolve(l.getFileName());
        Files.deleteIfExists(linkPath);
        Files.createLink(linkPath, target);
      }
    }
  }

  /**
   * Makes {@code shimRoot/rel} and its parents, each with the owner and mode of the same directory
   * in the layer; returns it. {@code rel} null means the root itself.
   */
  private static Path makeDirs(
      Path shimRoot, Path rel, Path layerDir, Map<Path, Posix.DirectoryAttributes> made)
      throws IOException {
    Path shim = shimRoot;
    makeDir(shim, layerDir, ".", made);
    if (rel != null) {
      for (int i = 0; i < rel.getNameCount(); i++) {
        shim = shim.resolve(rel.getName(i).toString());
        makeDir(shim, layerDir, rel.subpath(0, i + 1).toString(), made);
      }
    }
    return shim;
  }

  private static void makeDir(
      Path shim, Path layerDir, String rel, Map<Path, Posix.DirectoryAttributes> made)
      throws IOException {
    if (made.containsKey(shim)) {
      return;
    }
    Files.createDirectory(shim);
    // Read beneath the layer without following symlinks: the peer owns that tree, and a symlink
    // there must not lend this shim a host directory's owner and mode. No directory there (a
    // marker list from a peer is only a list): keep 0755.
    Posix.DirectoryAttributes a = Posix.directoryBeneath(layerDir, rel).orElse(null);
    if (a != null) {
      Posix.lchown(shim, a.uid(), a.gid());
      Posix.chmod(shim, a.mode() & 07777);
    }
    made.put(shim, a);
  }
}
