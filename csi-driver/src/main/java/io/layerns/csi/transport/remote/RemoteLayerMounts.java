package io.layerns.csi.transport.remote;

import io.layerns.csi.mount.MountTable;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's mounts of layers that peers hold: one mount per (peer, layer), shared by every volume
 * on the node that uses it, unmounted when the last one lets go.
 *
 * <p>Layout under the state directory ({@code T} is the transport's name):
 *
 * <pre>
 * mnt/T/NODE/HEX     the mount point of NODE's copy of layer sha256:HEX
 * refs/T/NODE/HEX    the holders (volume ids) of that mount, one a line
 * </pre>
 *
 * <p>References are counted by holder rather than by number, so that acquiring again for the same
 * volume (the kubelet retries a publish that timed out) does not count twice. The holders file is
 * written before mounting and after unmounting, so a crash leaves at worst a holder without a mount
 * (mounted again on the next acquire) or a mount without holders (unmounted when the node agent
 * starts again); {@link #open} rebuilds the state from these files and {@code
 * /proc/self/mountinfo}.
 */
public final class RemoteLayerMounts {

  private static final Logger LOG = LoggerFactory.getLogger(RemoteLayerMounts.class);
  private static final Pattern HOLDER = Pattern.compile("[A-Za-z0-9._:@/+=-]{1,253}");

  /** One peer's copy of one layer. */
  public record RemoteLayer(String node, Digest layer) {}

  /**
   * A remote mount that does not answer, or a layer with holders that is not mounted.
   *
   * @param reason what probing it said, e.g. "Transport endpoint is not connected"
   */
  public record DeadMount(RemoteLayer layer, Path mountPoint, String reason) {}

  private final Path mountRoot;
  private final Path refsRoot;
  private final RemoteTransport transport;
  private final RemoteMounter mounter;
  private final Map<RemoteLayer, Set<String>> holders = new ConcurrentHashMap<>();
  private final Map<RemoteLayer, ReentrantLock> locks = new ConcurrentHashMap<>();

  private RemoteLayerMounts(Path state, RemoteTransport transport, RemoteMounter mounter) {
    this.mountRoot = state.resolve("mnt").resolve(transport.name());
    this.refsRoot = state.resolve("refs").resolve(transport.name());
    this.transport = transport;
    this.mounter = mounter;
  }

  /**
   * Opens the remote mounts kept under {@code stateDir}: reads the holders files, adopts the mounts
   * that mountinfo shows, and unmounts those that nobody holds any more.
   */
  public static RemoteLayerMounts open(
      Path stateDir, RemoteTransport transport, RemoteMounter mounter) throws IOException {
    Files.createDirectories(stateDir);
    // mountinfo shows real paths; compare with those.
    RemoteLayerMounts mounts = new RemoteLayerMounts(stateDir.toRealPath(), transport, mounter);
    mounts.recover();
    return mounts;
  }

  /**
   * Makes {@code peer}'s copy of {@code layer} available for {@code holder} and returns the local
   * directory that shows it; mounts only when no other holder has already.
   *
   * @param holder who uses it, normally the volume id; acquiring twice for one holder counts once
   */
  public Path acquire(Peer peer, Digest layer, String holder) throws IOException {
    checkHolder(holder);
    RemoteLayer key = new RemoteLayer(peer.node(), layer);
    Path target = mountPoint(key);
    ReentrantLock lock = lockFor(key);
    lock.lock();
    try {
      Set<String> current = holders.getOrDefault(key, Set.of());
      boolean mounted = isMounted(target);
      if (mounted && !current.contains(holder)) {
        // A mount that died (its peer restarted and sshfs did not reconnect) would break this new
        // volume too: detach it, so a fresh mount serves the new volume; volumes already on the
        // dead one keep it until their pods go.
        Optional<String> dead = mounter.probe(target);
        if (dead.isPresent()) {
          LOG.warn(
              "remounting {}'s copy of {}: the mount does not answer ({})",
              peer.node(),
              layer,
              dead.get());
          mounter.detach(target);
          mounted = false;
        }
      }
      if (current.contains(holder) && mounted) {
        return target;
      }
      Set<String> next = new LinkedHashSet<>(current);
      next.add(holder);
      writeHolders(key, next);
      holders.put(key, Set.copyOf(next));
      if (!mounted) {
        try {
          Files.createDirectories(target);
          transport.prepare(peer);
          mounter.mount(transport.mountCommand(peer, layer, target));
          LOG.info("mounted {}'s copy of {} at {} for {}", peer.node(), layer, target, holder);
        } catch (IOException | RuntimeException e) {
          // Nobody can use a mount that failed: forget this holder again.
          writeHolders(key, current);
          putOrRemove(key, current);
          if (current.isEmpty()) {
            Files.deleteIfExists(target);
          }
          throw e;
        }
      }
      return target;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Lets go of {@code holder}'s use of {@code node}'s copy of {@code layer}; the last holder
   * unmounts it. Releasing what is not held does nothing (unpublish is retried too).
   */
  public void release(String node, Digest layer, String holder) throws IOException {
    checkHolder(holder);
    RemoteLayer key = new RemoteLayer(node, layer);
    ReentrantLock lock = lockFor(key);
    lock.lock();
    try {
      Set<String> current = holders.getOrDefault(key, Set.of());
      if (!current.contains(holder)) {
        return;
      }
      Set<String> next = new LinkedHashSet<>(current);
      next.remove(holder);
      if (next.isEmpty()) {
        // The holders file stays (empty) until the unmount worked, so a failed unmount is retried
        // when the agent starts again.
        writeHolders(key, next);
        holders.remove(key);
        unmountAndForget(key);
      } else {
        writeHolders(key, next);
        holders.put(key, Set.copyOf(next));
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Drops every holder not in {@code live} (e.g. the volumes the node agent finds published after a
   * restart or a reboot) and unmounts what nobody holds any more.
   */
  public void retainOnly(Set<String> live) throws IOException {
    for (Map.Entry<RemoteLayer, Set<String>> e : List.copyOf(holders.entrySet())) {
      for (String h : e.getValue()) {
        if (!live.contains(h)) {
          release(e.getKey().node(), e.getKey().layer(), h);
        }
      }
    }
  }

  /** Who holds which remote layer. */
  public Map<RemoteLayer, Set<String>> holders() {
    Map<RemoteLayer, Set<String>> out =
        new TreeMap<>(Comparator.comparing(RemoteLayer::node).thenComparing(k -> k.layer().hex()));
    out.putAll(holders);
    return out;
  }

  /**
   * The held remote layers that do not answer (the peer is gone or sshfs died) or are not mounted,
   * so that the node agent can report them and fetch the layer from elsewhere.
   */
  public List<DeadMount> health() throws IOException {
    List<DeadMount> dead = new ArrayList<>();
    for (RemoteLayer key : holders().keySet()) {
      // A probe inside the mount while it is unmounted would make umount fail ("target is
      // busy"): probe under the layer's lock, and skip a layer being mounted or unmounted now.
      ReentrantLock lock = lockFor(key);
      if (!lock.tryLock()) {
        continue;
      }
      try {
        if (!holders.containsKey(key)) {
          continue;
        }
        Path target = mountPoint(key);
        if (!isMounted(target)) {
          dead.add(new DeadMount(key, target, "not mounted"));
          continue;
        }
        Optional<String> problem = mounter.probe(target);
        problem.ifPresent(reason -> dead.add(new DeadMount(key, target, reason)));
      } finally {
        lock.unlock();
      }
    }
    return dead;
  }

  /**
   * What a FUSE mount answers once its daemon is gone (killed, OOM): the kernel aborted the
   * connection, and the mount never answers again, unlike one whose peer is away (sshfs
   * reconnects).
   */
  public static final String DAEMON_GONE = "Transport endpoint is not connected";

  /**
   * Mounts {@code peer}'s copy of {@code layer} again, at the same mount point, when volumes hold
   * it and its FUSE daemon is gone ({@value #DAEMON_GONE}) or it is not mounted. The dead mount is
   * detached and goes when its last user does; overlays made on it keep it (see {@code
   * docs/limits.md}).
   *
   * @return the holders of the mount, or empty when there was nothing to repair: nobody holds it,
   *     it answers, or its daemon lives (a peer that is away: sshfs reconnects by itself)
   */
  public Optional<Set<String>> remountDead(Peer peer, Digest layer) throws IOException {
    RemoteLayer key = new RemoteLayer(peer.node(), layer);
    ReentrantLock lock = lockFor(key);
    lock.lock();
    try {
      Set<String> current = holders.getOrDefault(key, Set.of());
      if (current.isEmpty()) {
        return Optional.empty();
      }
      Path target = mountPoint(key);
      if (isMounted(target)) {
        Optional<String> problem = mounter.probe(target);
        if (problem.isEmpty() || !problem.get().equals(DAEMON_GONE)) {
          return Optional.empty();
        }
        mounter.detach(target);
      }
      Files.createDirectories(target);
      transport.prepare(peer);
      mounter.mount(transport.mountCommand(peer, layer, target));
      LOG.info("mounted {}'s copy of {} again at {} for {}", peer.node(), layer, target, current);
      return Optional.of(current);
    } finally {
      lock.unlock();
    }
  }

  /** Where {@code node}'s copy of {@code layer} is (or would be) mounted. */
  public Path mountPoint(String node, Digest layer) {
    return mountPoint(new RemoteLayer(node, layer));
  }

  /**
   * The remote layer whose mount point {@code dir} is, if it is one of this transport's (e.g. a
   * lower dir from a volume's state file, to say whose copy the volume reads).
   */
  public Optional<RemoteLayer> layerAt(Path dir) {
    Path mp = dir.toAbsolutePath().normalize();
    if (!mp.startsWith(mountRoot) || mp.getNameCount() != mountRoot.getNameCount() + 2) {
      return Optional.empty();
    }
    return parseKey(mountRoot.relativize(mp).toString());
  }

  /** The transport these mounts use. */
  public RemoteTransport transport() {
    return transport;
  }

  // ---- recovery ----------------------------------------------------------------------------

  private void recover() throws IOException {
    if (Files.isDirectory(refsRoot)) {
      try (DirectoryStream<Path> nodes = Files.newDirectoryStream(refsRoot)) {
        for (Path nodeDir : nodes) {
          try (DirectoryStream<Path> files = Files.newDirectoryStream(nodeDir)) {
            for (Path f : files) {
              Optional<RemoteLayer> key = parseKey(nodeDir.getFileName() + "/" + f.getFileName());
              if (key.isEmpty()) {
                continue;
              }
              Set<String> h = readHolders(f);
              if (!h.isEmpty()) {
                holders.put(key.get(), h);
              }
            }
          }
        }
      }
    }
    for (MountTable.Entry e : mounter.mounts()) {
      Optional<RemoteLayer> key = keyOf(e);
      if (key.isPresent() && !holders.containsKey(key.get())) {
        LOG.info("unmounting {}: nobody holds it any more", e.mountPoint());
        unmountAndForget(key.get());
      }
    }
    LOG.info("{} remote mounts: {} held layers after restart", transport.name(), holders.size());
  }

  private Optional<RemoteLayer> keyOf(MountTable.Entry e) {
    if (!e.fsType().equals(transport.fsType())) {
      return Optional.empty();
    }
    return layerAt(Path.of(e.mountPoint()));
  }

  private static Optional<RemoteLayer> parseKey(String nodeSlashHex) {
    String[] parts = nodeSlashHex.split("/");
    if (parts.length != 2) {
      return Optional.empty();
    }
    try {
      // Peer validates the node name the same way acquire() did.
      Peer.of(parts[0], "localhost", 1);
      return Optional.of(new RemoteLayer(parts[0], new Digest(parts[1])));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  private void unmountAndForget(RemoteLayer key) throws IOException {
    Path target = mountPoint(key);
    if (isMounted(target)) {
      mounter.unmount(target);
      LOG.info("unmounted {}'s copy of {} at {}", key.node(), key.layer(), target);
    }
    Files.deleteIfExists(target);
    Files.deleteIfExists(refsFile(key));
  }

  private boolean isMounted(Path target) throws IOException {
    return mountPoints().contains(target.toString());
  }

  private Set<String> mountPoints() throws IOException {
    Set<String> out = new HashSet<>();
    for (MountTable.Entry e : mounter.mounts()) {
      if (e.fsType().equals(transport.fsType())) {
        out.add(e.mountPoint());
      }
    }
    return out;
  }

  private Path mountPoint(RemoteLayer key) {
    return mountRoot.resolve(Peer.of(key.node(), "localhost", 1).node()).resolve(key.layer().hex());
  }

  private Path refsFile(RemoteLayer key) {
    return refsRoot.resolve(key.node()).resolve(key.layer().hex());
  }

  private void writeHolders(RemoteLayer key, Set<String> h) throws IOException {
    Path file = refsFile(key);
    Files.createDirectories(file.getParent());
    Path tmp = Files.createTempFile(file.getParent(), "." + key.layer().hex(), ".tmp");
    try {
      Files.writeString(tmp, h.isEmpty() ? "" : String.join("\n", h) + "\n");
      // The rename is the commit: a reader sees the old list or the new one, never half of one.
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static Set<String> readHolders(Path file) throws IOException {
    Set<String> out = new LinkedHashSet<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (HOLDER.matcher(line).matches()) {
        out.add(line);
      }
    }
    return Set.copyOf(out);
  }

  private void putOrRemove(RemoteLayer key, Set<String> h) {
    if (h.isEmpty()) {
      holders.remove(key);
    } else {
      holders.put(key, Set.copyOf(h));
    }
  }

  private ReentrantLock lockFor(RemoteLayer key) {
    return locks.computeIfAbsent(key, k -> new ReentrantLock());
  }

  private static void checkHolder(String holder) {
    if (holder == null || !HOLDER.matcher(holder).matches()) {
      throw new IllegalArgumentException("not a holder id: " + holder);
    }
  }
}
