package io.layerns.csi.store.posix;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Linux calls that java.nio lacks (mknod, xattrs of any namespace, lchown, chmod with setuid and
 * sticky bits, no-follow timestamps, symlinks with an exact target, syncfs), through the Foreign
 * Function and Memory API.
 */
public final class Posix {
  private static final int AT_FDCWD = -100;
  private static final int AT_SYMLINK_NOFOLLOW = 0x100;
  private static final int S_IFCHR = 0020000;
  private static final int O_RDONLY_DIRECTORY_CLOEXEC = 0200000 | 02000000;
  private static final int ENODATA = 61;
  private static final int XATTR_BUFFER = 64 * 1024;

  private static final Linker LINKER = Linker.nativeLinker();
  private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO = CAPTURE.varHandle(PathElement.groupElement("errno"));

  private static final MethodHandle MKNOD =
      downcall("mknod", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
  private static final MethodHandle LSETXATTR =
      downcall(
          "lsetxattr",
          FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
  private static final MethodHandle LGETXATTR =
      downcall("lgetxattr", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
  private static final MethodHandle LLISTXATTR =
      downcall("llistxattr", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
  private static final MethodHandle LCHOWN =
      downcall("lchown", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
  private static final MethodHandle CHMOD =
      downcall("chmod", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle SYMLINK =
      downcall("symlink", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle UTIMENSAT =
      downcall("utimensat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
  private static final MethodHandle OPEN =
      downcall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle SYNCFS =
      downcall("syncfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
  private static final MethodHandle CLOSE =
      downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
  private static final MethodHandle SYSCALL_OPENAT2 =
      downcall(
          "syscall",
          FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
          Linker.Option.firstVariadicArg(1));
  private static final long SYS_OPENAT2 = 437; // the same number on every architecture
  private static final int O_PATH_DIRECTORY_CLOEXEC = 010000000 | 0200000 | 02000000;
  private static final int O_PATH_CLOEXEC = 010000000 | 02000000;
  private static final long RESOLVE_NO_MAGICLINKS = 0x02;
  private static final long RESOLVE_NO_SYMLINKS = 0x04;
  private static final long RESOLVE_BENEATH = 0x08;

  private Posix() {}

  /** Creates an overlayfs whiteout: a character device with device number 0/0. */
  public static void mknodWhiteout(Path path) throws IOException {
    call("mknod", path, (a, e) -> (int) MKNOD.invokeExact(e, cString(a, path), S_IFCHR, 0L));
  }

  /** The node types {@link #mknod} makes. */
  public enum NodeType {
    CHARACTER_DEVICE(0020000),
    BLOCK_DEVICE(0060000),
    FIFO(0010000);

    final int bits;

    NodeType(int bits) {
      this.bits = bits;
    }
  }

  /**
   * Creates a device node or FIFO with the permission bits (less the umask; callers chmod after)
   * and, for devices, the numbers; never follows or replaces what is at the path.
   */
  public static void mknod(Path path, NodeType type, int mode, long major, long minor)
      throws IOException {
    long dev = type == NodeType.FIFO ? 0L : makedev(major, minor);
    int fullMode = type.bits | (mode & 07777);
    call("mknod", path, (a, e) -> (int) MKNOD.invokeExact(e, cString(a, path), fullMode, dev));
  }

  /** glibc's makedev: the low 8 bits of the minor, 12 of the major, then the rest of each. */
  public static long makedev(long major, long minor) {
    return ((major & 0xfffff000L) << 32)
        | ((major & 0xfffL) << 8)
        | ((minor & 0xffffff00L) << 12)
        | (minor & 0xffL);
  }

  /** The major number of a device number, as glibc's major() reads it. */
  public static long major(long dev) {
    return ((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfffL);
  }

  /** The minor number of a device number, as glibc's minor() reads it. */
  public static long minor(long dev) {
    return ((dev >>> 12) & 0xffffff00L) | (dev & 0xffL);
  }

  /** Sets an extended attribute of any namespace on the path itself, never on a link target. */
  public static void lsetxattr(Path path, String name, byte[] value) throws IOException {
    call(
        "lsetxattr " + name,
        path,
        (a, e) ->
            (int)
                LSETXATTR.invokeExact(
                    e,
                    cString(a, path),
                    a.allocateFrom(name),
                    bytes(a, value),
                    (long) value.length,
                    0));
  }

  /** Reads an extended attribute of the path itself; empty when it is not set. */
  public static Optional<byte[]> lgetxattr(Path path, String name) throws IOException {
    byte[][] result = new byte[1][];
    call(
        "lgetxattr " + name,
        path,
        (a, e) -> {
          MemorySegment buf = a.allocate(XATTR_BUFFER);
          long n =
              (long)
                  LGETXATTR.invokeExact(
                      e, cString(a, path), a.allocateFrom(name), buf, 0L + XATTR_BUFFER);
          if (n < 0) {
            return errno(e) == ENODATA ? 0 : -1;
          }
          result[0] = buf.asSlice(0, n).toArray(JAVA_BYTE);
          return 0;
        });
    return Optional.ofNullable(result[0]);
  }

  /** Lists the extended attribute names of the path itself. */
  public static List<String> llistxattr(Path path) throws IOException {
    List<String> names = new ArrayList<>();
    call(
        "llistxattr",
        path,
        (a, e) -> {
          MemorySegment buf = a.allocate(XATTR_BUFFER);
          long n = (long) LLISTXATTR.invokeExact(e, cString(a, path), buf, 0L + XATTR_BUFFER);
          if (n < 0) {
            return -1;
          }
          byte[] all = buf.asSlice(0, n).toArray(JAVA_BYTE);
          int start = 0;
          for (int i = 0; i < all.length; i++) {
            if (all[i] == 0) {
              names.add(new String(all, start, i - start, StandardCharsets.UTF_8));
              start = i + 1;
            }
          }
          return 0;
        });
    return names;
  }

  /** Changes owner and group of the path itself, never of a link target. */
  public static void lchown(Path path, long uid, long gid) throws IOException {
    call(
        "lchown",
        path,
        (a, e) -> (int) LCHOWN.invokeExact(e, cString(a, path), (int) uid, (int) gid));
  }

  /**
   * Sets all twelve permission bits, setuid, setgid and sticky included, which
   * Files.setPosixFilePermissions cannot. chmod follows symlinks: callers pass no symlink.
   */
  public static void chmod(Path path, int mode) throws IOException {
    call("chmod", path, (a, e) -> (int) CHMOD.invokeExact(e, cString(a, path), mode & 07777));
  }

  /** Creates a symlink whose target is kept byte for byte (java.nio would normalize it). */
  public static void symlink(String target, Path link) throws IOException {
    call(
        "symlink",
        link,
        (a, e) -> (int) SYMLINK.invokeExact(e, a.allocateFrom(target), cString(a, link)));
  }

  /** Sets access and modification time of the path itself, never of a link target. */
  public static void lutimes(Path path, long seconds, int nanos) throws IOException {
    call(
        "utimensat",
        path,
        (a, e) -> {
          MemorySegment times = a.allocate(JAVA_LONG, 4);
          times.setAtIndex(JAVA_LONG, 0, seconds);
          times.setAtIndex(JAVA_LONG, 1, nanos);
          times.setAtIndex(JAVA_LONG, 2, seconds);
          times.setAtIndex(JAVA_LONG, 3, nanos);
          return (int)
              UTIMENSAT.invokeExact(e, AT_FDCWD, cString(a, path), times, AT_SYMLINK_NOFOLLOW);
        });
  }

  /**
   * Flushes the whole filesystem that holds the directory: one call makes a freshly unpacked tree
   * durable, where an fsync per file would cost a call per file.
   */
  public static void syncfs(Path directory) throws IOException {
    call(
        "syncfs",
        directory,
        (a, e) -> {
          int fd = (int) OPEN.invokeExact(e, cString(a, directory), O_RDONLY_DIRECTORY_CLOEXEC);
          if (fd < 0) {
            return fd;
          }
          int rc = (int) SYNCFS.invokeExact(e, fd);
          int unused = (int) CLOSE.invokeExact(a.allocate(CAPTURE), fd);
          return rc;
        });
  }

  /**
   * Opens the regular file {@code relative} under {@code root} for reading, following no symlink on
   * the way and never leaving {@code root} (openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS):
   * a tree that someone else controls, such as a peer's remote mount, cannot send the read to a
   * file of this host, even if it swaps a directory for a symlink meanwhile.
   *
   * @throws IOException naming the path when a component is a symlink (ELOOP), leaves the root
   *     (EXDEV) or the entry is not a regular file
   */
  public static java.nio.channels.FileChannel openBeneath(Path root, String relative)
      throws IOException {
    // An O_PATH descriptor opens nothing (a FIFO would block a read open); check the type through
    // it, then open the very inode it names for reading.
    return beneath(
        root,
        relative,
        handle -> {
          if (!java.nio.file.Files.isRegularFile(handle)) {
            throw new IOException(root.resolve(relative) + " is not a regular file");
          }
          return java.nio.channels.FileChannel.open(handle, java.nio.file.StandardOpenOption.READ);
        });
  }

  /** A directory's owner, permission bits and modification time. */
  public record DirectoryAttributes(
      int uid, int gid, int mode, java.nio.file.attribute.FileTime lastModified) {}

  /**
   * The owner, mode and time of the directory {@code relative} under {@code root}, resolved as
   * {@link #openBeneath} does; empty when there is no directory there that is reached without a
   * symlink.
   */
  public static java.util.Optional<DirectoryAttributes> directoryBeneath(Path root, String relative)
      throws IOException {
    try {
      return beneath(
          root,
          relative,
          handle -> {
            var a =
                java.nio.file.Files.readAttributes(
                    handle, "unix:isDirectory,uid,gid,mode,lastModifiedTime");
            return (Boolean) a.get("isDirectory")
                ? java.util.Optional.of(
                    new DirectoryAttributes(
                        (Integer) a.get("uid"),
                        (Integer) a.get("gid"),
                        (Integer) a.get("mode"),
                        (java.nio.file.attribute.FileTime) a.get("lastModifiedTime")))
                : java.util.Optional.<DirectoryAttributes>empty();
          });
    } catch (PosixException e) {
      return java.util.Optional.empty(); // missing, a symlink on the way, or outside root
    }
  }

  /** What to do with the inode a {@code /proc/self/fd} handle names. */
  @FunctionalInterface
  private interface HandleUse<T> {
    T apply(Path handle) throws IOException;
  }

  /**
   * Resolves {@code relative} under {@code root} with openat2 (RESOLVE_BENEATH,
   * RESOLVE_NO_SYMLINKS) to an O_PATH descriptor and gives {@code use} its /proc/self/fd path,
   * which names that very inode; closes the descriptor afterwards.
   */
  private static <T> T beneath(Path root, String relative, HandleUse<T> use) throws IOException {
    int[] fd = {-1};
    call(
        "openat2",
        root.resolve(relative),
        (a, e) -> {
          int dir = (int) OPEN.invokeExact(e, cString(a, root), O_PATH_DIRECTORY_CLOEXEC);
          if (dir < 0) {
            return dir;
          }
          MemorySegment how = a.allocate(JAVA_LONG, 3); // struct open_how: flags, mode, resolve
          how.setAtIndex(JAVA_LONG, 0, O_PATH_CLOEXEC);
          how.setAtIndex(JAVA_LONG, 1, 0);
          how.setAtIndex(
              JAVA_LONG, 2, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
          long rc =
              (long)
                  SYSCALL_OPENAT2.invokeExact(
                      e, SYS_OPENAT2, dir, a.allocateFrom(relative), how, 24L);
          int unused = (int) CLOSE.invokeExact(a.allocate(CAPTURE), dir);
          fd[0] = (int) rc;
          return (int) rc;
        });
    try {
      return use.apply(Path.of("/proc/self/fd/" + fd[0]));
    } finally {
      closeQuietly(fd[0]);
    }
  }

  private static void closeQuietly(int fd) {
    try (Arena arena = Arena.ofConfined()) {
      int unused = (int) CLOSE.invokeExact(arena.allocate(CAPTURE), fd);
    } catch (Throwable t) {
      throw new IllegalStateException("close " + fd, t);
    }
  }

  /** One native call: returns a negative value on failure, with errno in the captured state. */
  @FunctionalInterface
  private interface NativeCall {
    int invoke(Arena arena, MemorySegment errnoState) throws Throwable;
  }

  private static void call(String name, Path path, NativeCall nativeCall) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CAPTURE);
      if (nativeCall.invoke(arena, state) < 0) {
        throw new PosixException(name, path, errno(state));
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(name + " " + path, t);
    }
  }

  private static MethodHandle downcall(
      String name, FunctionDescriptor descriptor, Linker.Option... options) {
    MemorySegment symbol =
        LINKER
            .defaultLookup()
            .find(name)
            .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
    Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
    all[options.length] = Linker.Option.captureCallState("errno");
    return LINKER.downcallHandle(symbol, descriptor, all);
  }

  private static int errno(MemorySegment state) {
    return (int) ERRNO.get(state, 0L);
  }

  private static MemorySegment cString(Arena arena, Path path) {
    return arena.allocateFrom(path.toString());
  }

  private static MemorySegment bytes(Arena arena, byte[] value) {
    MemorySegment segment = arena.allocate(Math.max(1, value.length));
    MemorySegment.copy(value, 0, segment, JAVA_BYTE, 0, value.length);
    return segment;
  }
}
