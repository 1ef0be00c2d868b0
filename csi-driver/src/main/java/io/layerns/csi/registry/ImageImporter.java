package io.layerns.csi.registry;

import io.layerns.csi.registry.FetchFailedException.Attempt;
import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.DigestMismatchException;
import io.layerns.csi.store.FetchedBytes;
import io.layerns.csi.store.LayerRefusedException;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoreFullException;
import io.layerns.csi.store.StoredLayer;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings images into the node's layer store: the manifest (and index), the config and every layer,
 * each verified by digest, from an ordered list of sources (a registry, an OCI layout, peers).
 * Concurrent requests for the same blob or layer share one download. Thread-safe; one per store.
 */
public final class ImageImporter {
  private static final Logger LOG = LoggerFactory.getLogger(ImageImporter.class);

  /** An index may point at an index; real images never nest deeper than this. */
  private static final int MAX_INDEX_DEPTH = 2;

  private final LocalLayerStore store;
  private final RegistryClient registry;
  private final Platform platform;
  private final ImageRefs refs;
  private final PrivateImages privateImages;
  private final Map<Digest, CompletableFuture<StoredLayer>> layersInFlight =
      new ConcurrentHashMap<>();
  private final Map<Digest, CompletableFuture<Long>> blobsInFlight = new ConcurrentHashMap<>();
  private final AtomicLong sharedDownloads = new AtomicLong();
  private final Duration stallTimeout;

  private volatile io.layerns.csi.metrics.NodeMetrics metrics =
      io.layerns.csi.metrics.NodeMetrics.NONE;

  /**
   * @param registry the client for registry pulls
   * @param platform the node's platform, chosen from image indexes
   */
  public ImageImporter(LocalLayerStore store, RegistryClient registry, Platform platform) {
    this(store, registry, platform, StallGuard.DEFAULT_TIMEOUT);
  }

  /**
   * @param stallTimeout how long a source may send nothing in the middle of a blob before the
   *     importer gives up on it and tries the next source
   */
  public ImageImporter(
      LocalLayerStore store, RegistryClient registry, Platform platform, Duration stallTimeout) {
    this.store = store;
    this.registry = registry;
    this.platform = platform;
    this.refs = new ImageRefs(store.root());
    this.stallTimeout = stallTimeout;
    this.privateImages = new PrivateImages(store.root());
  }

  /** Where fetched bytes and refused layers are counted. */
  public void recordTo(io.layerns.csi.metrics.NodeMetrics metrics) {
    this.metrics = metrics;
  }

  /** The store images are imported into. */
  public LocalLayerStore store() {
    return store;
  }

  /** The tag index under the store's root. */
  public ImageRefs refs() {
    return refs;
  }

  /** The store's record of manifests and configs that only credentials can read. */
  public PrivateImages privateImages() {
    return privateImages;
  }

  /** The client registry pulls go through. */
  public RegistryClient registryClient() {
    return registry;
  }

  /** How many requests found their blob or layer already being downloaded and waited for it. */
  public long sharedDownloads() {
    return sharedDownloads.get();
  }

  /**
   * Pulls an image from its registry, with the credentials {@code auths} holds for it.
   *
   * @throws FetchFailedException naming the registry and why: authentication failed, not found,
   *     unreachable, corrupt content
   */
  public PulledImage pull(ImageReference image, DockerConfig auths) throws IOException {
    return pull(image, List.of(registry.repository(image, auths)));
  }

  /**
   * Imports an image from an OCI image layout on disk: by {@code image}'s digest when it has one,
   * else the entry whose ref name is its tag. The tag is then recorded for {@code image}.
   */
  public PulledImage importLayout(Path layout, ImageReference image) throws IOException {
    return pull(image, List.of(new LayoutSource(layout)));
  }

  /**
   * Brings an image into the store from {@code sources}, tried in order for each piece. What the
   * store already holds is not fetched again, so an image pinned by digest needs no source once it
   * is here. A tag is resolved by the first source that {@linkplain ContentSource#resolvesTags()
   * resolves tags}, and recorded in the tag index.
   *
   * @throws FetchFailedException when some piece could be fetched from no source
   * @throws UnsupportedManifestException when the image is of a kind this node cannot use
   */
  public PulledImage pull(ImageReference image, List<ContentSource> sources) throws IOException {
    Resolved r = resolveDocuments(image, sources, true);
    List<Digest> fresh = new ArrayList<>();
    for (Descriptor d : r.manifest().layers()) {
      if (!store.hasLayer(d.digest())) {
        fresh.add(d.digest());
      }
    }
    // Marked before they land: the store never lists a private layer without its mark, which
    // peers and the NFS export read.
    markPrivateLayers(r.manifestDigest(), fresh, sources);
    List<PulledImage.Layer> layers;
    try {
      layers = fetchLayers(r.manifest(), r.config(), sources);
    } catch (IOException | RuntimeException e) {
      // All or nothing: the documents this pull stored go with the image that did not come.
      for (Digest d : r.stored()) {
        store.deleteBlob(d);
      }
      throw e;
    }
    if (image.digest() == null) {
      refs.record(image, r.top());
    }
    return new PulledImage(
        image.withDigest(r.top()),
        r.indexDigest(),
        r.manifestDigest(),
        r.manifest().config().digest(),
        layers);
  }

  /**
   * Brings only an image's manifests and config into the store, from {@code sources} as {@link
   * #pull} does, and says which layers it has, without fetching any: the caller decides per layer
   * whether to fetch it or to read a peer's copy in place. A tag resolved here is not recorded,
   * since the image is not whole in the store yet.
   *
   * @throws FetchFailedException when a manifest or the config could be fetched from no source
   * @throws UnsupportedManifestException when the image is of a kind this node cannot use
   */
  public ResolvedImage resolve(ImageReference image, List<ContentSource> sources)
      throws IOException {
    Resolved r = resolveDocuments(image, sources, false);
    List<PulledImage.Layer> layers = new ArrayList<>();
    for (int i = 0; i < r.manifest().layers().size(); i++) {
      Descriptor d = r.manifest().layers().get(i);
      layers.add(
          new PulledImage.Layer(d.digest(), r.config().diffIds().get(i), d.size(), d.mediaType()));
    }
    return new ResolvedImage(
        image.withDigest(r.top()),
        r.indexDigest(),
        r.manifestDigest(),
        r.manifest().config().digest(),
        layers);
  }

  /**
   * Marks the layers that this node first came to hold through {@code manifest}, when that manifest
   * is private, as private to the registry repositories among {@code sources}: such a layer is
   * known here only through a private image.
   */
  public void markPrivateLayers(Digest manifest, List<Digest> layers, List<ContentSource> sources)
      throws IOException {
    if (layers.isEmpty() || !privateImages.isPrivate(manifest)) {
      return;
    }
    List<String> holders =
        sources.stream().flatMap(s -> s.repository().stream()).distinct().toList();
    if (holders.isEmpty()) {
      holders = List.copyOf(privateImages.repositories(manifest));
    }
    for (Digest layer : layers) {
      privateImages.recordLayer(layer, holders);
    }
  }

  /** The manifests and config of an image, all in the store; {@code stored} were new. */
  private record Resolved(
      Digest top,
      Digest indexDigest,
      Digest manifestDigest,
      ImageManifest manifest,
      ImageConfig config,
      List<Digest> stored) {}

  /**
   * Fetches and checks the image's documents (index, manifest, config) and stores them only once
   * all of them are checked, so that an image refused for its documents leaves no blob behind. They
   * are small (see {@link ManifestDocument#MAX_BYTES} and {@link ImageConfig#MAX_BYTES}).
   */
  private Resolved resolveDocuments(
      ImageReference image, List<ContentSource> sources, boolean layersFollow) throws IOException {
    Map<Digest, byte[]> fetched = new LinkedHashMap<>();
    // Documents a registry served only with credentials, and the repository they are private to.
    Map<Digest, String> privateIn = new LinkedHashMap<>();
    Digest top;
    ManifestDocument doc;
    if (image.digest() != null) {
      top = image.digest();
      doc = manifest(image, top, -1, sources, fetched, privateIn);
    } else {
      FetchedManifest m = resolveTag(image, sources);
      top = m.digest();
      doc = parseManifest(image, top, m.bytes(), m.contentType());
      fetched.put(top, m.bytes());
      if (m.privateIn() != null) {
        privateIn.put(top, m.privateIn());
      }
    }
    Digest indexDigest = null;
    Digest manifestDigest = top;
    for (int depth = 0; doc instanceof ImageIndex index; depth++) {
      if (depth >= MAX_INDEX_DEPTH) {
        throw new UnsupportedManifestException(
            "image " + image + ": indexes nest deeper than " + MAX_INDEX_DEPTH);
      }
      Descriptor chosen =
          index
              .select(platform)
              .orElseThrow(
                  () ->
                      new RegistryException(
                          Reason.NOT_FOUND,
                          "image " + image,
                          404,
                          "no manifest for platform "
                              + platform
                              + " in index "
                              + top
                              + " (it has "
                              + index.platforms()
                              + ")"));
      indexDigest = manifestDigest;
      manifestDigest = chosen.digest();
      doc = manifest(image, manifestDigest, chosen.size(), sources, fetched, privateIn);
    }
    ImageManifest manifest = (ImageManifest) doc;
    Descriptor configDescriptor = manifest.config();
    java.util.concurrent.atomic.AtomicReference<ContentSource> configSource =
        new java.util.concurrent.atomic.AtomicReference<>();
    ImageConfig config = config(image, configDescriptor, sources, fetched, configSource);
    if (config.diffIds().size() != manifest.layers().size()) {
      throw new UnsupportedManifestException(
          "image "
              + image
              + ": the manifest has "
              + manifest.layers().size()
              + " layers but the config lists "
              + config.diffIds().size()
              + " diff IDs");
    }
    if (layersFollow && !sources.isEmpty()) {
      long missing = 0;
      int count = 0;
      Descriptor largest = null;
      for (Descriptor d : manifest.layers()) {
        if (!store.hasLayer(d.digest())) {
          missing = saturatedAdd(missing, d.size());
          count++;
          if (largest == null || d.size() > largest.size()) {
            largest = d;
          }
        }
      }
      if (largest != null) {
        store.requireRoomFor(
            "image "
                + image
                + " ("
                + count
                + " layers not held here, the largest "
                + largest.digest()
                + " of "
                + largest.size()
                + " bytes)",
            largest.digest(),
            missing);
      }
    }
    // Private documents are marked before they are stored, so the HTTP export never serves them.
    // A private manifest's config is private too, held by the repository that served its bytes
    // now: a repository that served only the manifest (anyone may copy a manifest's bytes) is no
    // holder of the config. A config this node held already keeps what it was.
    for (Map.Entry<Digest, String> e : privateIn.entrySet()) {
      privateImages.record(e.getKey(), List.of(e.getValue()));
    }
    if (privateImages.isPrivate(manifestDigest) && configSource.get() != null) {
      Optional<String> holder = configSource.get().repository();
      if (holder.isPresent()) {
        privateImages.record(configDescriptor.digest(), List.of(holder.get()));
      }
    }
    for (Map.Entry<Digest, byte[]> e : fetched.entrySet()) {
      store.putBlob(e.getKey(), new ByteArrayInputStream(e.getValue()));
    }
    return new Resolved(
        top, indexDigest, manifestDigest, manifest, config, List.copyOf(fetched.keySet()));
  }

  /**
   * A manifest or index by digest: from the store, else from the first source that serves exactly
   * those bytes, kept in {@code fetched} until the whole image is checked.
   *
   * @param size the size its index entry gives, or -1
   */
  private ManifestDocument manifest(
      ImageReference image,
      Digest digest,
      long size,
      List<ContentSource> sources,
      Map<Digest, byte[]> fetched,
      Map<Digest, String> privateIn)
      throws IOException {
    if (store.hasBlob(digest)) {
      return parseManifest(image, digest, store.readBlob(digest, ManifestDocument.MAX_BYTES), null);
    }
    FetchedManifest m =
        firstSuccess(
            "manifest " + digest,
            sources,
            source -> {
              FetchedManifest got = source.fetchManifest(digest.toString());
              if (!got.digest().equals(digest)) {
                throw new DigestMismatchException(
                    "manifest", digest, got.digest(), got.bytes().length);
              }
              return got;
            });
    // The bytes are the ones asked for: what is wrong now is the document, not the source.
    if (size >= 0 && m.bytes().length != size) {
      throw new UnsupportedManifestException(
          "image "
              + image
              + ": the index gives manifest "
              + digest
              + " a size of "
              + size
              + " bytes but it has "
              + m.bytes().length);
    }
    ManifestDocument doc = parseManifest(image, digest, m.bytes(), m.contentType());
    fetched.put(digest, m.bytes());
    if (m.privateIn() != null) {
      privateIn.put(digest, m.privateIn());
    }
    return doc;
  }

  private static ManifestDocument parseManifest(
      ImageReference image, Digest digest, byte[] bytes, String contentType) throws IOException {
    try {
      return ManifestDocument.parse(bytes, contentType);
    } catch (UnsupportedManifestException e) {
      throw new UnsupportedManifestException(
          "image " + image + ": manifest " + digest + ": " + e.getMessage());
    }
  }

  /** The image config, from the store or the first source serving its bytes, checked. */
  private ImageConfig config(
      ImageReference image,
      Descriptor descriptor,
      List<ContentSource> sources,
      Map<Digest, byte[]> fetched,
      java.util.concurrent.atomic.AtomicReference<ContentSource> deliveredBy)
      throws IOException {
    Digest digest = descriptor.digest();
    byte[] bytes;
    if (store.hasBlob(digest)) {
      bytes = store.readBlob(digest, ImageConfig.MAX_BYTES);
    } else {
      bytes =
          firstSuccess(
              "config " + digest,
              sources,
              source -> {
                byte[] got;
                try (InputStream in =
                    StallGuard.watch(
                        source.openBlob(digest),
                        stallTimeout,
                        source.describe(),
                        "config " + digest)) {
                  got = in.readNBytes(ImageConfig.MAX_BYTES + 1);
                }
                if (got.length > ImageConfig.MAX_BYTES) {
                  throw new RegistryException(
                      Reason.CORRUPT,
                      source.describe(),
                      -1,
                      "config " + digest + " is larger than " + ImageConfig.MAX_BYTES + " bytes");
                }
                Digest actual = Digest.of(got);
                if (!actual.equals(digest)) {
                  throw new DigestMismatchException("config", digest, actual, got.length);
                }
                deliveredBy.set(source);
                return got;
              });
      if (bytes.length != descriptor.size()) {
        throw new UnsupportedManifestException(
            "image "
                + image
                + ": the manifest gives config "
                + digest
                + " a size of "
                + descriptor.size()
                + " bytes but it has "
                + bytes.length);
      }
      fetched.put(digest, bytes);
    }
    try {
      return ImageConfig.parse(bytes);
    } catch (UnsupportedManifestException e) {
      throw new UnsupportedManifestException(
          "image " + image + ": config " + digest + ": " + e.getMessage());
    }
  }

  /**
   * The image as the store already holds it, without any network: by its digest, or by the digest
   * its tag pointed at when last pulled here. Empty when some piece is missing.
   */
  public Optional<PulledImage> findLocal(ImageReference image) throws IOException {
    Optional<Digest> digest =
        image.digest() != null ? Optional.of(image.digest()) : refs.lookup(image);
    if (digest.isEmpty()) {
      return Optional.empty();
    }
    try {
      PulledImage found = pull(image.withDigest(digest.get()), List.of());
      return Optional.of(
          new PulledImage(
              image.withDigest(digest.get()),
              found.indexDigest(),
              found.manifestDigest(),
              found.configDigest(),
              found.layers()));
    } catch (FetchFailedException e) {
      return Optional.empty();
    }
  }

  /**
   * Brings one layer into the store (blob and unpacked tree), from the first source that serves
   * bytes matching {@code digest} (and {@code diffId}, when given). Sources that fail, or serve
   * other bytes, are skipped; nothing they sent becomes visible.
   *
   * @param diffId the diff ID from the image config, or null when unknown
   * @param mediaType the layer's media type, or null to go by its magic bytes
   * @param size the blob's size from its descriptor, or -1 when unknown; a source that sends more
   *     is cut off
   * @throws FetchFailedException listing each source and why it failed
   */
  public StoredLayer fetchLayer(
      Digest digest, Digest diffId, String mediaType, long size, List<ContentSource> sources)
      throws IOException {
    Optional<StoredLayer> existing = store.layer(digest);
    if (existing.isPresent()) {
      return checkDiffId(existing.get(), diffId);
    }
    return deduplicated(
        layersInFlight,
        digest,
        () -> {
          Optional<StoredLayer> now = store.layer(digest);
          if (now.isPresent()) {
            return checkDiffId(now.get(), diffId);
          }
          if (store.hasBlob(digest)) {
            // A blob fetched as a blob (say, served to peers) only needs unpacking.
            return store.unpackLayer(digest, diffId, mediaType);
          }
          if (!sources.isEmpty()) {
            store.requireRoomFor("layer " + digest, digest, size);
          }
          return firstSuccess(
              "layer " + digest,
              sources,
              source -> {
                StoredLayer stored;
                long start = System.nanoTime();
                try (InputStream in = open(source, digest, size)) {
                  stored = store.importLayer(digest, diffId, mediaType, in);
                  LOG.info(
                      "layer {} fetched from {} in {} s",
                      digest,
                      source.describe(),
                      String.format(
                          java.util.Locale.ROOT, "%.2f", (System.nanoTime() - start) / 1e9));
                }
                countFetched(source, digest);
                return stored;
              });
        });
  }

  /**
   * Brings one blob (a manifest, a config, or a layer not to be unpacked) into the store, from the
   * first source that serves bytes matching {@code digest}.
   *
   * @return the blob's size
   * @throws FetchFailedException listing each source and why it failed
   */
  public long fetchBlob(Digest digest, long size, List<ContentSource> sources) throws IOException {
    if (store.hasBlob(digest)) {
      return store.blob(digest).map(ImageImporter::sizeOf).orElse(-1L);
    }
    return deduplicated(
        blobsInFlight,
        digest,
        () -> {
          if (store.hasBlob(digest)) {
            return store.blob(digest).map(ImageImporter::sizeOf).orElse(-1L);
          }
          return firstSuccess(
              "blob " + digest,
              sources,
              source -> {
                try (InputStream in = open(source, digest, size)) {
                  return store.putBlob(digest, in);
                }
              });
        });
  }

  // ---- internals ---------------------------------------------------------------------------

  /** The manifest a tag points at, from the first source that resolves tags; not yet stored. */
  private FetchedManifest resolveTag(ImageReference image, List<ContentSource> sources)
      throws IOException {
    List<Attempt> attempts = new ArrayList<>();
    for (ContentSource source : sources) {
      if (!source.resolvesTags()) {
        continue;
      }
      try {
        return source.fetchManifest(image.tag());
      } catch (InterruptedIOException e) {
        throw e;
      } catch (UnsupportedManifestException e) {
        throw new UnsupportedManifestException(
            "image " + image + " from " + source.describe() + ": " + e.getMessage());
      } catch (IOException e) {
        LOG.warn("resolving {} at {} failed: {}", image, source.describe(), e.getMessage());
        attempts.add(new Attempt(source.describe(), e));
      }
    }
    throw new FetchFailedException("manifest of " + image, attempts);
  }

  /** Fetches the layers in parallel (virtual threads; the network is the bottleneck). */
  private List<PulledImage.Layer> fetchLayers(
      ImageManifest manifest, ImageConfig config, List<ContentSource> sources) throws IOException {
    List<Future<StoredLayer>> futures = new ArrayList<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < manifest.layers().size(); i++) {
        Descriptor d = manifest.layers().get(i);
        Digest diffId = config.diffIds().get(i);
        futures.add(
            pool.submit(() -> fetchLayer(d.digest(), diffId, d.mediaType(), d.size(), sources)));
      }
      List<PulledImage.Layer> layers = new ArrayList<>();
      for (int i = 0; i < futures.size(); i++) {
        Descriptor d = manifest.layers().get(i);
        StoredLayer stored = await(futures.get(i));
        layers.add(new PulledImage.Layer(d.digest(), stored.diffId(), d.size(), d.mediaType()));
      }
      return layers;
    }
  }

  /** Adds a layer's blob to the store's bytes from peers, registries or the bucket. */
  private void countFetched(ContentSource source, Digest digest) {
    FetchedBytes.Origin origin =
        switch (source.kind()) {
          case REGISTRY -> FetchedBytes.Origin.REGISTRY;
          case PEER -> FetchedBytes.Origin.PEER;
          case BUCKET -> FetchedBytes.Origin.BUCKET;
          case LAYOUT -> null;
        };
    if (origin != null) {
      store.fetchedBytes().add(origin, store.blob(digest).map(ImageImporter::sizeOf).orElse(0L));
    }
  }

  private static StoredLayer checkDiffId(StoredLayer layer, Digest diffId)
      throws LayerRefusedException {
    if (diffId != null && !diffId.equals(layer.diffId())) {
      throw new LayerRefusedException(
          layer.digest(),
          "the stored layer has diff ID "
              + layer.diffId()
              + " but the image config says "
              + diffId);
    }
    return layer;
  }

  @FunctionalInterface
  private interface SourceCall<T> {
    T apply(ContentSource source) throws IOException;
  }

  @FunctionalInterface
  private interface Work<T> {
    T run() throws IOException;
  }

  /** Tries each source in order; the first success wins, each failure is kept for the message. */
  private <T> T firstSuccess(String what, List<ContentSource> sources, SourceCall<T> call)
      throws IOException {
    List<Attempt> attempts = new ArrayList<>();
    for (ContentSource source : sources) {
      try {
        return call.apply(source);
      } catch (InterruptedIOException | StoreFullException e) {
        // A full store is this node's problem: another source would fill it all the same.
        throw e;
      } catch (IOException e) {
        if (e instanceof LayerRefusedException || e instanceof DigestMismatchException) {
          metrics.refused(io.layerns.csi.metrics.NodeMetrics.Refusal.HOSTILE_INPUT);
        }
        LOG.warn("fetching {} from {} failed: {}", what, source.describe(), e.getMessage());
        attempts.add(new Attempt(source.describe(), e));
      }
    }
    throw new FetchFailedException(what, attempts);
  }

  /**
   * Runs {@code work} unless the same key is already being fetched, in which case it waits for that
   * fetch instead. A waiter whose shared fetch failed tries once more itself: its sources (say, its
   * pull secret) may differ from the first requester's.
   */
  private <T> T deduplicated(Map<Digest, CompletableFuture<T>> inFlight, Digest key, Work<T> work)
      throws IOException {
    for (int round = 0; ; round++) {
      CompletableFuture<T> mine = new CompletableFuture<>();
      CompletableFuture<T> running = inFlight.putIfAbsent(key, mine);
      if (running == null) {
        try {
          T result = work.run();
          mine.complete(result);
          return result;
        } catch (Throwable t) {
          mine.completeExceptionally(t);
          throw t;
        } finally {
          inFlight.remove(key, mine);
        }
      }
      sharedDownloads.incrementAndGet();
      try {
        return await(running);
      } catch (IOException e) {
        if (round > 0) {
          throw e;
        }
      }
    }
  }

  private static <T> T await(Future<T> future) throws IOException {
    try {
      return future.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting for a download");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) {
        throw io;
      }
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      throw new IOException(cause);
    }
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return sum < 0 ? Long.MAX_VALUE : sum;
  }

  private static long sizeOf(Path p) {
    try {
      return java.nio.file.Files.size(p);
    } catch (IOException e) {
      return -1;
    }
  }

  /** A blob's body from {@code source}, cut off when too long and given up when it stalls. */
  private InputStream open(ContentSource source, Digest digest, long size) throws IOException {
    InputStream body =
        StallGuard.watch(
            metrics.countFetched(source.kind(), source.openBlob(digest)),
            stallTimeout,
            source.describe(),
            "blob " + digest);
    return bounded(body, size, source, digest);
  }

  /**
   * Cuts a source off once it sends more than the descriptor's size, and refuses one that ends
   * before it: either way its content is not the blob the descriptor names.
   */
  private static InputStream bounded(
      InputStream in, long size, ContentSource source, Digest digest) {
    if (size < 0) {
      return in;
    }
    return new FilterInputStream(in) {
      private long seen;

      @Override
      public int read() throws IOException {
        int b = super.read();
        if (b >= 0) {
          count(1);
        } else {
          atEnd();
        }
        return b;
      }

      @Override
      public int read(byte[] buf, int off, int len) throws IOException {
        int n = super.read(buf, off, len);
        if (n > 0) {
          count(n);
        } else if (n < 0) {
          atEnd();
        }
        return n;
      }

      private void atEnd() throws IOException {
        if (seen < size) {
          throw new RegistryException(
              Reason.CORRUPT,
              source.describe(),
              -1,
              "blob "
                  + digest
                  + " ended after "
                  + seen
                  + " bytes but its descriptor gives "
                  + size);
        }
      }

      private void count(int n) throws IOException {
        seen += n;
        if (seen > size) {
          throw new RegistryException(
              Reason.CORRUPT,
              source.describe(),
              -1,
              "blob " + digest + " is longer than the " + size + " bytes its descriptor gives");
        }
      }
    };
  }
}
