package io.layerns.csi.mount;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Records mount calls and keeps its own mount table, for unit tests that cannot mount. */
public final class RecordingMounter implements Mounter {

  /** One recorded mount. */
  public record Mount(String kind, List<Path> layersBaseFirst, Path upperDir, Path workDir) {}

  private final Map<Path, Mount> mounted = new HashMap<>();
  private final List<String> calls = new ArrayList<>();
  private IOException nextMountFailure;

  /** Makes the next mount call fail with {@code e}. */
  public synchronized void failNextMount(IOException e) {
    nextMountFailure = e;
  }

  public synchronized Map<Path, Mount> mounted() {
    return Map.copyOf(mounted);
  }

  /** Every call, in order, as "kind target". */
  public synchronized List<String> calls() {
    return List.copyOf(calls);
  }

  @Override
  public synchronized void mountReadOnlyOverlay(List<Path> layersBaseFirst, Path target)
      throws IOException {
    mount(target, new Mount("overlay-ro", List.copyOf(layersBaseFirst), null, null));
  }

  @Override
  public synchronized void mountWritableOverlay(
      List<Path> layersBaseFirst, Path upperDir, Path workDir, Path target) throws IOException {
    mount(target, new Mount("overlay-rw", List.copyOf(layersBaseFirst), upperDir, workDir));
  }

  @Override
  public synchronized void bind(Path source, Path target, boolean readOnly) throws IOException {
    mount(target, new Mount(readOnly ? "bind-ro" : "bind", List.of(source), null, null));
  }

  @Override
  public synchronized void unmount(Path target) throws IOException {
    calls.add("unmount " + target);
    if (mounted.remove(target) == null) {
      throw new IOException("umount: " + target + ": not mounted");
    }
  }

  @Override
  public synchronized boolean isMountPoint(Path path) {
    return mounted.containsKey(path);
  }

  private void mount(Path target, Mount m) throws IOException {
    calls.add(m.kind() + " " + target);
    if (nextMountFailure != null) {
      IOException e = nextMountFailure;
      nextMountFailure = null;
      throw e;
    }
    if (mounted.containsKey(target)) {
      // The real mount would stack; the node service must never ask for that.
      throw new IOException("already mounted: " + target);
    }
    mounted.put(target, m);
  }
}
