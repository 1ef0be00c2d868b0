package io.layerns.csi.mount;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The mount operations the node plugin needs, so tests can run the real one or a recording one. */
public interface Mounter {

  /**
   * Mounts a read-only overlay of {@code layersBaseFirst} at {@code target}.
   *
   * @param layersBaseFirst layer directories in image manifest order: the base layer first, the top
   *     layer last (implementations translate to overlayfs, whose first lowerdir is the top)
   */
  void mountReadOnlyOverlay(List<Path> layersBaseFirst, Path target) throws IOException;

  /**
   * Mounts a writable overlay of {@code layersBaseFirst} at {@code target}; writes land in {@code
   * upperDir}, which with {@code workDir} must be empty directories on one file system.
   */
  void mountWritableOverlay(List<Path> layersBaseFirst, Path upperDir, Path workDir, Path target)
      throws IOException;

  /** Bind-mounts {@code source} at {@code target}, read-only when asked. */
  void bind(Path source, Path target, boolean readOnly) throws IOException;

  /** Unmounts whatever is mounted at {@code target} (the topmost mount). */
  void unmount(Path target) throws IOException;

  /** Whether {@code path} is a mount point in this process's mount namespace. */
  boolean isMountPoint(Path path) throws IOException;
}
