package io.layerns.csi.transport.remote;

import io.layerns.csi.mount.MountTable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Records remote mount commands and keeps its own mount table, for tests that cannot mount. */
public final class RecordingRemoteMounter implements RemoteMounter {

  private final Map<String, MountTable.Entry> table = new LinkedHashMap<>();
  private final Map<String, String> probeFailures = new HashMap<>();
  private final List<String> calls = new ArrayList<>();
  private IOException nextMountFailure;
  private int failuresLeft;
  private final Map<String, IOException> unreachable = new HashMap<>();
  private int nextId = 100;

  public synchronized void failNextMount(IOException e) {
    failNextMounts(1, e);
  }

  /** Makes the next {@code count} mounts fail with {@code e}. */
  public synchronized void failNextMounts(int count, IOException e) {
    nextMountFailure = e;
    failuresLeft = count;
  }

  /** Makes every mount whose command names {@code fragment} fail, as a peer that stays down. */
  public synchronized void failMountsMatching(String fragment, IOException e) {
    unreachable.put(fragment, e);
  }

  /** Makes probes of the mount at {@code target} fail with {@code reason}. */
  public synchronized void breakMount(Path target, String reason) {
    probeFailures.put(target.toString(), reason);
  }

  /** Pretends a mount exists, e.g. one left by an earlier process. */
  public synchronized void addExisting(String fsType, String source, Path target) {
    table.put(target.toString(), entry(fsType, source, target.toString()));
  }

  /** Every call, in order: "mount SOURCE TARGET" or "unmount TARGET". */
  public synchronized List<String> calls() {
    return List.copyOf(calls);
  }

  public synchronized List<String> mountPoints() {
    return List.copyOf(table.keySet());
  }

  @Override
  public synchronized void mount(List<String> command) throws IOException {
    // sshfs SOURCE TARGET -o OPTS, or mount -t TYPE -o OPTS SOURCE TARGET
    boolean sshfs = command.get(0).equals("sshfs");
    String source = sshfs ? command.get(1) : command.get(command.size() - 2);
    String target = sshfs ? command.get(2) : command.get(command.size() - 1);
    String fsType = sshfs ? "fuse.sshfs" : command.get(2);
    calls.add("mount " + source + " " + target);
    for (var down : unreachable.entrySet()) {
      if (target.contains(down.getKey())) {
        throw down.getValue();
      }
    }
    if (nextMountFailure != null) {
      IOException e = nextMountFailure;
      if (--failuresLeft <= 0) {
        nextMountFailure = null;
      }
      throw e;
    }
    if (table.containsKey(target)) {
      throw new IOException("already mounted: " + target);
    }
    table.put(target, entry(fsType, source, target));
  }

  @Override
  public synchronized void detach(Path target) throws IOException {
    calls.add("detach " + target);
    probeFailures.remove(target.toString());
    if (table.remove(target.toString()) == null) {
      throw new IOException("umount: " + target + ": not mounted");
    }
  }

  @Override
  public synchronized void unmount(Path target) throws IOException {
    calls.add("unmount " + target);
    if (table.remove(target.toString()) == null) {
      throw new IOException("umount: " + target + ": not mounted");
    }
  }

  @Override
  public synchronized List<MountTable.Entry> mounts() {
    return List.copyOf(table.values());
  }

  @Override
  public synchronized Optional<String> probe(Path target) {
    return Optional.ofNullable(probeFailures.get(target.toString()));
  }

  private MountTable.Entry entry(String fsType, String source, String target) {
    return new MountTable.Entry(nextId++, 1, "/", target, "ro,relatime", fsType, source, "ro");
  }
}
