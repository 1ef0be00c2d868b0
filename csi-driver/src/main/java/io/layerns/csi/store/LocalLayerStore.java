package io.layerns.csi.store;

import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Reader;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The node's on-disk layer store: content-addressed blobs (layers, manifests, configs) and unpacked
 * layer directories in overlay format, under one root.
 *
 * <pre>
 * root/lock                          held while a process has the store open
 * root/blobs/sha256/HEX              verified blobs
 * root/layers/sha256/HEX/diff/       an unpacked layer: the overlay lowerdir
 * root/layers/sha256/HEX/layer.properties
 * root/layers/sha256/HEX/tree.manifest   the tree as verified at import (see TreeManifest)
 * root/layers/sha256/HEX/verified    touched at each later verification (its mtime is the time)
 * root/quarantine/HEX-N/             a copy that failed verification, kept while a volume reads it
 * root/tmp/                          work in progress, emptied when the store opens
 * </pre>
 *
 * <p>Crash safety: everything is written under tmp/, made durable, and then renamed into place; the
 * rename is the commit. A crash before it leaves only tmp/ litter, which opening the store removes;
 * a crash after it leaves a complete, verified entry.
 */
public final class LocalLayerStore implements AutoCloseable {
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(LocalLayerStore.class);

  /** Where the node agent keeps its store unless configured otherwise. */
  public static final Path DEFAULT_ROOT = Path.of("/var/lib/layerns");

  /** The mode of the store's root, and of the plugin's state folder. */
  public static final int PRIVATE_DIRECTORY_MODE = 0700;

  private static final String LAYER_TREE = "diff";
  private static final String LAYER_INFO = "layer.properties";
  private static final String TREE_MANIFEST = "tree.manifest";
  private static final String VERIFIED = "verified";
  private static final int LOCK_STRIPES = 64;

  private final Path root;
  private final Path blobs;
  private final Path layers;
  private final Path tmp;
  private final Path quarantine;
  private final UnpackLimits limits;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final ReentrantLock[] digestLocks = new ReentrantLock[LOCK_STRIPES];
  private final Map<Digest, Integer> leases = new ConcurrentHashMap<>();
  private volatile Consumer<String> checkpoint = point -> {};
  private final FetchedBytes fetchedBytes;

  private LocalLayerStore(Path root, UnpackLimits limits, FileChannel lockChannel, FileLock lock) {
    this.root = root;
    this.blobs = root.resolve("blobs").resolve("sha256");
    this.layers = root.resolve("layers").resolve("sha256");
    this.tmp = root.resolve("tmp");
    this.quarantine = root.resolve("quarantine");
    this.limits = limits;
    this.lockChannel = lockChannel;
    this.lock = lock;
    this.fetchedBytes = new FetchedBytes(root.resolve("fetched-bytes.properties"));
    for (int i = 0; i < LOCK_STRIPES; i++) {
      digestLocks[i] = new ReentrantLock();
    }
  }

  /**
   * Opens the store at {@code root} with the default limits; see {@link #open(Path, UnpackLimits)}.
   */
  public static LocalLayerStore open(Path root) throws IOException {
    return open(root, UnpackLimits.DEFAULT);
  }

  /**
   * Opens (creating if needed) the store at {@code root}, takes its lock so that no other process
   * uses it at the same time, and removes whatever an earlier process left half-written.
   *
   * @throws IOException when another process has the store open
   */
  public static LocalLayerStore open(Path root, UnpackLimits limits) throws IOException {
    Files.createDirectories(root);
    // Root's alone: layer trees keep their setuid bits, file capabilities and private files,
    // which a host user must never reach (pods see them through their overlay, mounted by root).
    Posix.chmod(root, PRIVATE_DIRECTORY_MODE);
    FileChannel channel =
        FileChannel.open(root.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = channel.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      channel.close();
      throw new IOException("the layer store at " + root + " is open in another process");
    }
    LocalLayerStore store = new LocalLayerStore(root, limits, channel, lock);
    store.recover();
    return store;
  }

  /** The store's root directory. */
  public Path root() {
    return root;
  }

  /** Layer bytes fetched into this store, by origin, since it was made. */
  public FetchedBytes fetchedBytes() {
    return fetchedBytes;
  }

  // ---- blobs -------------------------------------------------------------------------------

  /**
   * Stores a blob read from {@code content}, which must hash to {@code digest}. Storing a blob that
   * is already present replaces it with identical bytes.
   *
   * @return the blob's size in bytes
   * @throws DigestMismatchException when the content has another digest; nothing is stored
   */
  public long putBlob(Digest digest, InputStream content) throws IOException {
    try {
      return writeBlob(digest, content);
    } catch (IOException e) {
      throw StoreFullException.isNoSpace(e) ? StoreFullException.wrote("blob", digest, root, e) : e;
    }
  }

  private long writeBlob(Digest digest, InputStream content) throws IOException {
    Path work = Files.createTempFile(tmp, "blob-", "");
    try {
      MessageDigest sha = Digest.newSha256();
      long size;
      try (FileChannel channel = FileChannel.open(work, StandardOpenOption.WRITE);
          OutputStream out = Channels.newOutputStream(channel)) {
        size = new DigestInputStream(content, sha).transferTo(out);
        channel.force(true);
      }
      Digest actual = Digest.of(sha);
      if (!actual.equals(digest)) {
        throw new DigestMismatchException("blob", digest, actual, size);
      }
      checkpoint.accept("blob-synced");
      commit(work, blobPath(digest), StandardCopyOption.REPLACE_EXISTING);
      return size;
    } finally {
      Files.deleteIfExists(work);
    }
  }

  /** Whether the store holds the blob. */
  public boolean hasBlob(Digest digest) {
    return Files.isRegularFile(blobPath(digest));
  }

  /** The blob's file, for callers that serve ranges or use sendfile; empty when absent. */
  public Optional<Path> blob(Digest digest) {
    Path p = blobPath(digest);
    return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
  }

  /**
   * Opens a stored blob.
   *
   * @throws NoSuchFileException when the store does not hold it
   */
  public InputStream openBlob(Digest digest) throws IOException {
    return Files.newInputStream(blobPath(digest));
  }

  /**
   * Reads a small blob, such as a manifest or an image config, whole.
   *
   * @throws IOException when it is absent or larger than {@code maxBytes}
   */
  public byte[] readBlob(Digest digest, int maxBytes) throws IOException {
    Path p = blobPath(digest);
    long size = Files.size(p);
    if (size > maxBytes) {
      throw new IOException("blob " + digest + " has " + size + " bytes, more than " + maxBytes);
    }
    return Files.readAllBytes(p);
  }

  /** Removes a blob; returns false when it was absent. Unpacked layers are not affected. */
  public boolean deleteBlob(Digest digest) throws IOException {
    return Files.deleteIfExists(blobPath(digest));
  }

  // ---- layers ------------------------------------------------------------------------------

  /**
   * Unpacks a stored layer blob into a layer directory, or returns the layer when it is already
   * unpacked. The directory becomes visible only once the blob's digest and the diff ID are
   * verified and the tree is complete and durable.
   *
   * @param diffId the diff ID from the image config, or null when unknown
   * @param mediaType the descriptor's media type, or null to go by the content's magic bytes
   * @throws NoSuchFileException when the blob is not stored
   * @throws LayerRefusedException when the layer is unsafe, corrupt, too large or mismatched
   */
  public StoredLayer unpackLayer(Digest digest, Digest diffId, String mediaType)
      throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      Optional<StoredLayer> existing = layer(digest);
      if (existing.isPresent()) {
        return existing.get();
      }
      try (InputStream in = openBlob(digest)) {
        SourceTimer source = new SourceTimer(in);
        return unpack(digest, diffId, mediaType, source, source, null);
      }
    } catch (IOException e) {
      throw StoreFullException.isNoSpace(e)
          ? StoreFullException.wrote("layer", digest, root, e)
          : e;
    } finally {
      l.unlock();
    }
  }

  /**
   * Stores a layer blob and unpacks it in one pass over {@code content}, as a download arrives.
   * Both the blob and the layer become visible only when both digests match. When the layer is
   * already unpacked, only a missing blob is stored.
   *
   * @throws LayerRefusedException when the layer is unsafe, corrupt, too large or mismatched
   */
  public StoredLayer importLayer(
      Digest digest, Digest diffId, String mediaType, InputStream content) throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      Optional<StoredLayer> existing = layer(digest);
      if (existing.isPresent()) {
        if (!hasBlob(digest)) {
          putBlob(digest, content);
        }
        return existing.get();
      }
      Path blobWork = Files.createTempFile(tmp, "blob-", "");
      try (FileChannel channel = FileChannel.open(blobWork, StandardOpenOption.WRITE);
          OutputStream copy = Channels.newOutputStream(channel)) {
        SourceTimer source = new SourceTimer(content);
        InputStream tee = new TeeInputStream(source, copy);
        return unpack(
            digest, diffId, mediaType, tee, source, () -> finishBlob(channel, blobWork, digest));
      } finally {
        Files.deleteIfExists(blobWork);
      }
    } catch (IOException e) {
      throw StoreFullException.isNoSpace(e)
          ? StoreFullException.wrote("layer", digest, root, e)
          : e;
    } finally {
      l.unlock();
    }
  }

  /**
   * Refuses a download of {@code bytes} before any of it arrives when the store's filesystem has
   * less free space than that: it could never fit.
   *
   * @param what names what would be downloaded, for the message
   * @param digest the blob (or manifest) it is about
   * @param bytes its size from its descriptors, or -1 when unknown (then nothing is checked)
   * @throws StoreFullException naming it, its size and the free space
   */
  public void requireRoomFor(String what, Digest digest, long bytes) throws StoreFullException {
    long free = StoreFullException.freeBytes(root);
    if (bytes > 0 && free >= 0 && bytes > free) {
      throw new StoreFullException(
          digest,
          root,
          bytes,
          free,
          what
              + " needs "
              + bytes
              + " bytes but the store at "
              + root
              + " has "
              + free
              + " bytes free (ENOSPC): not downloading it",
          null);
    }
  }

  /** The stored layer, or empty when it is not unpacked here. */
  public Optional<StoredLayer> layer(Digest digest) throws IOException {
    Path dir = layers.resolve(digest.hex());
    Path info = dir.resolve(LAYER_INFO);
    if (!Files.isRegularFile(info)) {
      return Optional.empty();
    }
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(info, StandardCharsets.UTF_8)) {
      p.load(r);
    }
    return Optional.of(
        new StoredLayer(
            digest,
            Digest.parse(p.getProperty("diffId")),
            p.getProperty("mediaType"),
            dir.resolve(LAYER_TREE),
            Long.parseLong(p.getProperty("contentBytes")),
            Long.parseLong(p.getProperty("entries"))));
  }

  /** Whether the layer is unpacked here. */
  public boolean hasLayer(Digest digest) {
    return Files.isRegularFile(layers.resolve(digest.hex()).resolve(LAYER_INFO));
  }

  /** Every unpacked layer, ordered by digest. */
  public List<StoredLayer> listLayers() throws IOException {
    List<StoredLayer> result = new ArrayList<>();
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(layers)) {
      for (Path dir : dirs) {
        Optional<StoredLayer> layer = layer(new Digest(dir.getFileName().toString()));
        layer.ifPresent(result::add);
      }
    }
    result.sort(Comparator.comparing(s -> s.digest().hex()));
    return result;
  }

  /**
   * Claims a layer for a volume, so that {@link #deleteLayer} keeps it until the lease is closed.
   * Leases live in this process: after a restart the node agent claims again the layers of the
   * volumes it finds published.
   *
   * @throws NoSuchFileException when the layer is not unpacked here
   */
  public LayerLease lease(Digest digest) throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      StoredLayer layer =
          layer(digest).orElseThrow(() -> new NoSuchFileException("layer " + digest));
      leases.merge(digest, 1, Integer::sum);
      AtomicBoolean open = new AtomicBoolean(true);
      return new LayerLease() {
        @Override
        public StoredLayer layer() {
          return layer;
        }

        @Override
        public void close() {
          if (open.compareAndSet(true, false)) {
            leases.computeIfPresent(digest, (d, n) -> n == 1 ? null : n - 1);
          }
        }
      };
    } finally {
      l.unlock();
    }
  }

  /**
   * Removes an unpacked layer unless a lease holds it. The directory is first renamed out of sight
   * in one step, so no reader ever sees a half-deleted layer; processes that already have files
   * open keep reading them.
   */
  public DeleteOutcome deleteLayer(Digest digest) throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      if (leases.containsKey(digest)) {
        return DeleteOutcome.IN_USE;
      }
      Path dir = layers.resolve(digest.hex());
      if (!Files.isDirectory(dir)) {
        return DeleteOutcome.ABSENT;
      }
      Path trash = Files.createTempDirectory(tmp, "deleted-" + digest.hex().substring(0, 12) + "-");
      Path moved = trash.resolve(digest.hex());
      Files.move(dir, moved, StandardCopyOption.ATOMIC_MOVE);
      fsyncDirectory(layers);
      Trees.delete(trash);
      return DeleteOutcome.DELETED;
    } finally {
      l.unlock();
    }
  }

  /**
   * Bytes the store uses: blob sizes plus the content of unpacked layers (apparent sizes, not
   * allocated blocks).
   */
  public long usedBytes() throws IOException {
    long total = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(blobs)) {
      for (Path f : files) {
        total += Files.size(f);
      }
    }
    for (StoredLayer layer : listLayers()) {
      total += layer.contentBytes();
    }
    return total;
  }

  @Override
  public void close() throws IOException {
    lock.release();
    lockChannel.close();
  }

  // ---- scrub -------------------------------------------------------------------------------

  /**
   * When the copy was last verified: its last {@link #verify}, or else its import. Empty when the
   * layer is not here.
   */
  public Optional<java.time.Instant> lastVerified(Digest digest) throws IOException {
    Path dir = layers.resolve(digest.hex());
    for (Path marker : List.of(dir.resolve(VERIFIED), dir.resolve(LAYER_INFO))) {
      try {
        return Optional.of(Files.getLastModifiedTime(marker).toInstant());
      } catch (NoSuchFileException e) {
        // not verified since import: the next marker tells when that was
      }
    }
    return Optional.empty();
  }

  /**
   * Re-reads a copy and compares it with what was verified at import: the blob (when stored) must
   * still hash to its digest, and the unpacked tree must match the manifest recorded then. Reads go
   * through {@code pacer}. A layer unpacked before manifests were recorded gets one now (only its
   * blob is checked this time). A pass records its time ({@link #lastVerified}).
   *
   * @return the problem found, or empty when the copy is intact (or no longer here)
   */
  public Optional<String> verify(Digest digest, TreeManifest.Pacer pacer) throws IOException {
    Optional<String> problem;
    try {
      problem = check(digest, pacer);
    } catch (NoSuchFileException e) {
      return Optional.empty(); // dropped while being read: nothing left to judge
    }
    if (problem.isPresent()) {
      // Confirm under the lock, so that a copy replaced or dropped meanwhile is not condemned.
      ReentrantLock l = lockFor(digest);
      l.lock();
      try {
        problem = hasLayer(digest) ? check(digest, TreeManifest.Pacer.NONE) : Optional.empty();
      } catch (NoSuchFileException e) {
        problem = Optional.empty();
      } finally {
        l.unlock();
      }
    }
    if (problem.isEmpty() && hasLayer(digest)) {
      Path marker = layers.resolve(digest.hex()).resolve(VERIFIED);
      try {
        if (!Files.exists(marker)) {
          Files.createFile(marker);
        }
        Files.setLastModifiedTime(
            marker, java.nio.file.attribute.FileTime.from(java.time.Instant.now()));
      } catch (NoSuchFileException e) {
        // dropped meanwhile
      }
    }
    return problem;
  }

  private Optional<String> check(Digest digest, TreeManifest.Pacer pacer) throws IOException {
    Path blob = blobPath(digest);
    if (Files.isRegularFile(blob)) {
      MessageDigest sha = Digest.newSha256();
      byte[] buf = new byte[1 << 20];
      long size = 0;
      try (InputStream in = Files.newInputStream(blob)) {
        for (int n; ; size += n) {
          pacer.reading(buf.length);
          n = in.readNBytes(buf, 0, buf.length);
          if (n <= 0) {
            break;
          }
          sha.update(buf, 0, n);
        }
      }
      Digest actual = Digest.of(sha);
      if (!actual.equals(digest)) {
        return Optional.of(
            "its blob (" + size + " bytes) hashes to " + actual + ", not to its digest");
      }
    }
    Path dir = layers.resolve(digest.hex());
    Properties info = new Properties();
    try (Reader r = Files.newBufferedReader(dir.resolve(LAYER_INFO), StandardCharsets.UTF_8)) {
      info.load(r);
    }
    String recorded = info.getProperty("treeManifest");
    List<String> found = TreeManifest.of(dir.resolve(LAYER_TREE), pacer);
    if (recorded == null) {
      recordManifest(digest, found);
      return Optional.empty();
    }
    if (TreeManifest.digest(found).toString().equals(recorded)) {
      return Optional.empty();
    }
    List<String> before = List.of();
    try {
      before = Files.readAllLines(dir.resolve(TREE_MANIFEST), StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      // the difference below then names the first entry
    }
    String where =
        TreeManifest.digest(before).toString().equals(recorded)
            ? TreeManifest.firstDifference(before, found)
            : "its recorded tree manifest is itself damaged";
    return Optional.of("its unpacked tree differs from the one verified at import: " + where);
  }

  private void recordManifest(Digest digest, List<String> manifest) throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      Path dir = layers.resolve(digest.hex());
      Path info = dir.resolve(LAYER_INFO);
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(info, StandardCharsets.UTF_8)) {
        p.load(r);
      }
      Path work = Files.createTempDirectory(tmp, "manifest-");
      try {
        Files.write(work.resolve(TREE_MANIFEST), manifest, StandardCharsets.UTF_8);
        commit(work.resolve(TREE_MANIFEST), dir.resolve(TREE_MANIFEST));
        p.setProperty("treeManifest", TreeManifest.digest(manifest).toString());
        try (Writer w = Files.newBufferedWriter(work.resolve(LAYER_INFO), StandardCharsets.UTF_8)) {
          p.store(w, "layer unpacked by layerns");
        }
        commit(work.resolve(LAYER_INFO), info, StandardCopyOption.REPLACE_EXISTING);
      } finally {
        Trees.delete(work);
      }
    } finally {
      l.unlock();
    }
  }

  /**
   * Takes a copy that failed verification out of the store at once, blob and tree, so that nothing
   * serves it, lists it or mounts it again, and a fetch can bring a good copy in its place. Volumes
   * that already read it keep their mounts (the tree is moved, not deleted, while a lease holds the
   * layer); {@link #emptyQuarantine} deletes it once none does.
   *
   * @return whether there was a copy to take out
   */
  public boolean quarantine(Digest digest) throws IOException {
    ReentrantLock l = lockFor(digest);
    l.lock();
    try {
      deleteBlob(digest);
      Path dir = layers.resolve(digest.hex());
      if (!Files.isDirectory(dir)) {
        return false;
      }
      Files.createDirectories(quarantine);
      Path moved = quarantine.resolve(digest.hex() + "-" + System.nanoTime());
      Files.move(dir, moved, StandardCopyOption.ATOMIC_MOVE);
      fsyncDirectory(layers);
      if (!leases.containsKey(digest)) {
        Trees.delete(moved);
      }
      return true;
    } finally {
      l.unlock();
    }
  }

  /** How many quarantined copies are still kept (a volume reads them). */
  public int quarantinedCopies() throws IOException {
    if (!Files.isDirectory(quarantine)) {
      return 0;
    }
    try (java.util.stream.Stream<Path> copies = Files.list(quarantine)) {
      return (int) copies.count();
    }
  }

  /** Deletes the quarantined copies of layers no lease holds any more. */
  public void emptyQuarantine() throws IOException {
    if (!Files.isDirectory(quarantine)) {
      return;
    }
    try (DirectoryStream<Path> copies = Files.newDirectoryStream(quarantine)) {
      for (Path copy : copies) {
        String name = copy.getFileName().toString();
        Digest digest = new Digest(name.substring(0, name.indexOf('-')));
        ReentrantLock l = lockFor(digest);
        l.lock();
        try {
          if (!leases.containsKey(digest)) {
            Trees.delete(copy);
          }
        } finally {
          l.unlock();
        }
      }
    }
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Lets crash tests stop the process at named points; production code never sets it. */
  void onCheckpoint(Consumer<String> hook) {
    this.checkpoint = hook;
  }

  /** Work that must happen after the layer is verified and before it is committed. */
  @FunctionalInterface
  private interface BeforeCommit {
    void run() throws IOException;
  }

  private StoredLayer unpack(
      Digest digest,
      Digest diffId,
      String mediaType,
      InputStream in,
      SourceTimer source,
      BeforeCommit beforeCommit)
      throws IOException {
    long start = System.nanoTime();
    Path work = Files.createTempDirectory(tmp, "layer-" + digest.hex().substring(0, 12) + "-");
    try {
      Posix.chmod(work, 0755);
      Path tree = Files.createDirectory(work.resolve(LAYER_TREE));
      Posix.chmod(tree, 0755);
      LayerUnpacker.Result result =
          new LayerUnpacker(limits, () -> checkpoint.accept("entry-written"))
              .unpack(digest, diffId, mediaType, in, tree);
      long unpacked = System.nanoTime();
      // The tree's bits are the ones the diff ID just verified: record them for the scrub.
      List<String> manifest =
          TreeManifest.of(tree, TreeManifest.Pacer.NONE, result.writtenContent());
      Files.write(work.resolve(TREE_MANIFEST), manifest, StandardCharsets.UTF_8);
      writeInfo(work.resolve(LAYER_INFO), result, mediaType, TreeManifest.digest(manifest));
      long manifested = System.nanoTime();
      Posix.syncfs(work);
      long synced = System.nanoTime();
      checkpoint.accept("layer-synced");
      if (beforeCommit != null) {
        beforeCommit.run();
      }
      long blobSynced = System.nanoTime();
      Files.move(work, layers.resolve(digest.hex()), StandardCopyOption.ATOMIC_MOVE);
      fsyncDirectory(layers);
      checkpoint.accept("layer-committed");
      long end = System.nanoTime();
      // Where an import's time goes, for an admin whose copies are slow (and for the benchmarks).
      LOG.info(
          "layer {}: {} MiB read, {} MiB in {} entries unpacked in {} s (of which {} s waiting for"
              + " the source); tree manifest {} s, syncfs {} s, blob fsync {} s, commit {} s; {} s"
              + " in all",
          digest,
          mib(source.bytes()),
          mib(result.contentBytes()),
          result.entries(),
          seconds(unpacked - start),
          seconds(source.waitedNanos()),
          seconds(manifested - unpacked),
          seconds(synced - manifested),
          seconds(blobSynced - synced),
          seconds(end - blobSynced),
          seconds(end - start));
      return layer(digest).orElseThrow();
    } finally {
      Trees.delete(work);
    }
  }

  private static String mib(long bytes) {
    return String.format(java.util.Locale.ROOT, "%.1f", bytes / (1024.0 * 1024));
  }

  private static String seconds(long nanos) {
    return String.format(java.util.Locale.ROOT, "%.2f", nanos / 1e9);
  }

  /** Counts the bytes read from a layer's source and the time spent waiting for them. */
  private static final class SourceTimer extends java.io.FilterInputStream {
    private long bytes;
    private long waitedNanos;

    SourceTimer(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      long t = System.nanoTime();
      int b = super.read();
      waitedNanos += System.nanoTime() - t;
      if (b >= 0) {
        bytes++;
      }
      return b;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      long t = System.nanoTime();
      int n = super.read(buf, off, len);
      waitedNanos += System.nanoTime() - t;
      if (n > 0) {
        bytes += n;
      }
      return n;
    }

    long bytes() {
      return bytes;
    }

    long waitedNanos() {
      return waitedNanos;
    }
  }

  private void finishBlob(FileChannel channel, Path work, Digest digest) throws IOException {
    channel.force(true);
    commit(work, blobPath(digest), StandardCopyOption.REPLACE_EXISTING);
    checkpoint.accept("blob-committed");
  }

  private static void writeInfo(
      Path file, LayerUnpacker.Result result, String mediaType, Digest treeManifest)
      throws IOException {
    Properties p = new Properties();
    p.setProperty("diffId", result.diffId().toString());
    p.setProperty("treeManifest", treeManifest.toString());
    if (mediaType != null) {
      p.setProperty("mediaType", mediaType);
    }
    p.setProperty("contentBytes", Long.toString(result.contentBytes()));
    p.setProperty("entries", Long.toString(result.entries()));
    try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      p.store(w, "layer unpacked by layerns");
    }
  }

  private void commit(Path work, Path target, StandardCopyOption... options) throws IOException {
    StandardCopyOption[] all = new StandardCopyOption[options.length + 1];
    System.arraycopy(options, 0, all, 0, options.length);
    all[options.length] = StandardCopyOption.ATOMIC_MOVE;
    Files.move(work, target, all);
    fsyncDirectory(target.getParent());
  }

  private static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    }
  }

  /** Removes what an earlier process left in tmp/, including half-deleted layers. */
  private void recover() throws IOException {
    Files.createDirectories(blobs);
    Files.createDirectories(layers);
    Files.createDirectories(tmp);
    Posix.chmod(tmp, 0700);
    try (DirectoryStream<Path> litter = Files.newDirectoryStream(tmp)) {
      for (Path p : litter) {
        Trees.delete(p);
      }
    }
    // Only a rename of a complete directory puts a layer here; anything else is not ours.
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(layers)) {
      for (Path dir : dirs) {
        boolean wellFormed =
            dir.getFileName().toString().matches("[0-9a-f]{64}")
                && Files.isRegularFile(dir.resolve(LAYER_INFO));
        if (!wellFormed) {
          Trees.delete(dir);
        }
      }
    }
  }

  private Path blobPath(Digest digest) {
    return blobs.resolve(digest.hex());
  }

  private ReentrantLock lockFor(Digest digest) {
    return digestLocks[Math.floorMod(digest.hashCode(), LOCK_STRIPES)];
  }
}
