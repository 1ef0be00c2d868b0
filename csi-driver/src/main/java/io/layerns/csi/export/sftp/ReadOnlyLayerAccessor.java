package io.layerns.csi.export.sftp;

import java.io.IOException;
import java.nio.channels.Channel;
import java.nio.channels.FileLock;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.CopyOption;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.AclEntry;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.security.Principal;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.sshd.sftp.server.DirectoryHandle;
import org.apache.sshd.sftp.server.FileHandle;
import org.apache.sshd.sftp.server.SftpFileSystemAccessor;
import org.apache.sshd.sftp.server.SftpSubsystemProxy;

/**
 * The SFTP server's only way to the disk: reads below the export root, never through a symlink.
 *
 * <p>Layers hold symlinks with absolute and {@code ..} targets that only make sense inside a pod's
 * view. The server must hand them to the client unchanged ({@code readlink}) and must never follow
 * one itself, or a client could read the holder node's own files. So: every stat is an lstat, a
 * path whose parent components include a symlink is refused, files are opened with {@code
 * O_NOFOLLOW} on every component (walking from {@code /} with openat), directories likewise, and
 * link targets are read from the real file system, not MINA's rooted one (which rewrites targets
 * that leave the root). Every operation that would change anything is refused with permission
 * denied. Committed layers never change (the store renames them into place whole), which is why
 * checking the parents before the operation is enough.
 */
final class ReadOnlyLayerAccessor implements SftpFileSystemAccessor {

  private static final LinkOption[] NO_FOLLOW = {LinkOption.NOFOLLOW_LINKS};

  private final Path root;

  /**
   * @param root the export root as a real path (no symlink in it)
   */
  ReadOnlyLayerAccessor(Path root) {
    this.root = root;
  }

  @Override
  public Path resolveLocalFilePath(SftpSubsystemProxy subsystem, Path rootDir, String remotePath)
      throws IOException, InvalidPathException {
    Path path = SftpFileSystemAccessor.super.resolveLocalFilePath(subsystem, rootDir, remotePath);
    refuseLinksAbove(path);
    return path;
  }

  @Override
  public LinkOption[] resolveFileAccessLinkOptions(
      SftpSubsystemProxy subsystem, Path file, int cmd, String extension, boolean followLinks) {
    return NO_FOLLOW.clone();
  }

  @Override
  public SeekableByteChannel openFile(
      SftpSubsystemProxy subsystem,
      FileHandle fileHandle,
      Path file,
      String handle,
      Set<? extends OpenOption> options,
      FileAttribute<?>... attrs)
      throws IOException {
    for (OpenOption o : options) {
      if (o != StandardOpenOption.READ && o != LinkOption.NOFOLLOW_LINKS) {
        throw denied(file, "opening for " + o);
      }
    }
    Path real = real(file);
    // Only regular files are read: opening a layer's device node would read the holder's device,
    // and a FIFO would block the server. Committed layers never change, so the check holds.
    if (real.equals(root) || !Files.isRegularFile(real, NO_FOLLOW)) {
      throw new AccessDeniedException(file.toString(), null, "not a regular file");
    }
    return SftpFileSystemAccessor.seekableByteChannelNoLinkFollow(
        real, Set.of(StandardOpenOption.READ));
  }

  @Override
  public DirectoryStream<Path> openDirectory(
      SftpSubsystemProxy subsystem,
      DirectoryHandle dirHandle,
      Path dir,
      String handle,
      LinkOption... linkOptions)
      throws IOException {
    DirectoryStream<Path> real = SftpFileSystemAccessor.secureResolveDirectoryStream(real(dir));
    // The subsystem stats the entries it lists, so hand back paths of the rooted file system.
    return new DirectoryStream<>() {
      @Override
      public Iterator<Path> iterator() {
        Iterator<Path> it = real.iterator();
        return new Iterator<>() {
          @Override
          public boolean hasNext() {
            return it.hasNext();
          }

          @Override
          public Path next() {
            return dir.resolve(it.next().getFileName().toString());
          }
        };
      }

      @Override
      public void close() throws IOException {
        real.close();
      }
    };
  }

  @Override
  public Map<String, ?> readFileAttributes(
      SftpSubsystemProxy subsystem, Path file, String view, LinkOption... options)
      throws IOException {
    return Files.readAttributes(real(file), view, NO_FOLLOW);
  }

  @Override
  public String resolveLinkTarget(SftpSubsystemProxy subsystem, Path link) throws IOException {
    return Files.readSymbolicLink(real(link)).toString();
  }

  // ---- everything below would change the export: refused ----------------------------------

  @Override
  public void setFileAttribute(
      SftpSubsystemProxy subsystem,
      Path file,
      String view,
      String attribute,
      Object value,
      LinkOption... options)
      throws IOException {
    throw denied(file, "setting " + attribute);
  }

  @Override
  public void setFileOwner(
      SftpSubsystemProxy subsystem, Path file, Principal value, LinkOption... options)
      throws IOException {
    throw denied(file, "setting the owner");
  }

  @Override
  public void setGroupOwner(
      SftpSubsystemProxy subsystem, Path file, Principal value, LinkOption... options)
      throws IOException {
    throw denied(file, "setting the group");
  }

  @Override
  public void setFilePermissions(
      SftpSubsystemProxy subsystem,
      Path file,
      Set<PosixFilePermission> perms,
      LinkOption... options)
      throws IOException {
    throw denied(file, "setting permissions");
  }

  @Override
  public void setFileAccessControl(
      SftpSubsystemProxy subsystem, Path file, List<AclEntry> acl, LinkOption... options)
      throws IOException {
    throw denied(file, "setting an ACL");
  }

  @Override
  public void applyExtensionFileAttributes(
      SftpSubsystemProxy subsystem,
      Path file,
      Map<String, byte[]> extensions,
      LinkOption... options)
      throws IOException {
    if (!extensions.isEmpty()) {
      throw denied(file, "setting extended attributes");
    }
  }

  @Override
  public UserPrincipal resolveFileOwner(SftpSubsystemProxy subsystem, Path file, UserPrincipal name)
      throws IOException {
    throw denied(file, "setting the owner");
  }

  @Override
  public GroupPrincipal resolveGroupOwner(
      SftpSubsystemProxy subsystem, Path file, GroupPrincipal name) throws IOException {
    throw denied(file, "setting the group");
  }

  @Override
  public void createDirectory(SftpSubsystemProxy subsystem, Path path) throws IOException {
    throw denied(path, "creating a directory");
  }

  @Override
  public void createLink(SftpSubsystemProxy subsystem, Path link, Path existing, boolean symLink)
      throws IOException {
    throw denied(link, "creating a link");
  }

  @Override
  public void renameFile(
      SftpSubsystemProxy subsystem, Path oldPath, Path newPath, Collection<CopyOption> opts)
      throws IOException {
    throw denied(oldPath, "renaming");
  }

  @Override
  public void copyFile(
      SftpSubsystemProxy subsystem, Path src, Path dst, Collection<CopyOption> opts)
      throws IOException {
    throw denied(dst, "copying");
  }

  @Override
  public void removeFile(SftpSubsystemProxy subsystem, Path path, boolean isDirectory)
      throws IOException {
    throw denied(path, "removing");
  }

  @Override
  public FileLock tryLock(
      SftpSubsystemProxy subsystem,
      FileHandle fileHandle,
      Path file,
      String handle,
      Channel channel,
      long position,
      long size,
      boolean shared)
      throws IOException {
    throw denied(file, "locking");
  }

  // ---- paths --------------------------------------------------------------------------------

  /** The real path of a path of the rooted file system that the SFTP subsystem works with. */
  Path real(Path rooted) throws AccessDeniedException {
    Path out = root;
    for (Path name : rooted.toAbsolutePath().normalize()) {
      String n = name.toString();
      if (n.equals("..")) {
        throw denied(rooted, "leaving the export root");
      }
      if (!n.isEmpty() && !n.equals(".")) {
        out = out.resolve(n);
      }
    }
    return out;
  }

  /** Refuses a path that would go through a symlink before its last component. */
  private void refuseLinksAbove(Path rooted) throws IOException {
    Path real = real(rooted);
    Path at = root;
    for (int i = root.getNameCount(); i < real.getNameCount() - 1; i++) {
      at = at.resolve(real.getName(i).toString());
      BasicFileAttributes a;
      try {
        a = Files.readAttributes(at, BasicFileAttributes.class, NO_FOLLOW);
      } catch (NoSuchFileException e) {
        // Whatever asked will find nothing there and say so.
        return;
      }
      if (a.isSymbolicLink()) {
        throw denied(rooted, "a symbolic link on the way (the server does not follow links)");
      }
    }
  }

  private static AccessDeniedException denied(Path path, String what) {
    return new AccessDeniedException(path.toString(), null, "read-only export: " + what);
  }
}
