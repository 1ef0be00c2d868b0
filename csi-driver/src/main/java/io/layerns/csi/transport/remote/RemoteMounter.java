package io.layerns.csi.transport.remote;

import io.layerns.csi.mount.MountTable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** The system calls behind remote layer mounts, so tests can record them instead. */
public interface RemoteMounter {

  /** Runs a mount command (from {@link RemoteTransport#mountCommand}); fails when it fails. */
  void mount(List<String> command) throws IOException;

  /** Unmounts whatever is mounted at {@code target}. */
  void unmount(Path target) throws IOException;

  /**
   * Detaches the mount at {@code target} from the tree even while volumes still use it (a lazy
   * unmount), so that a fresh mount can take its place; the old one goes when its last user does.
   */
  default void detach(Path target) throws IOException {
    unmount(target);
  }

  /** The mounts of this process's mount namespace. */
  List<MountTable.Entry> mounts() throws IOException;

  /**
   * Whether the mount at {@code target} still answers.
   *
   * @return empty when it does, else why not (e.g. "Transport endpoint is not connected")
   */
  Optional<String> probe(Path target);
}
