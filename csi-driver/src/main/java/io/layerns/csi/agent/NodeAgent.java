package io.layerns.csi.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.layerns.api.events.EventRecorder;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.PeerEndpoints;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.csi.store.DeleteOutcome;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import io.layerns.csi.transport.remote.RemoteLayerMounts.DeadMount;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent: makes the node's store obey its LayerStore spec (fetch what is assigned, drop
 * what is neither assigned nor read by a local volume) and reports what the node holds and serves
 * in the LayerStore status. It watches only its own LayerStore and writes only its status.
 */
public final class NodeAgent implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);
  private static final String FETCH_FAILED = "FetchFailed";

  /** The LayerStore condition that says whether this node's remote layer mounts answer. */
  public static final String REMOTE_MOUNTS_HEALTHY = "RemoteMountsHealthy";

  /** The Warning event for a remote layer mount that stopped answering. */
  public static final String REMOTE_MOUNT_DEAD = "RemoteMountDead";

  /** The Normal event for a dead remote layer mount that the agent mounted again. */
  public static final String REMOTE_MOUNT_REPAIRED = "RemoteMountRepaired";

  /** The Normal event for a remote layer mount that answers again (sshfs reconnects). */
  public static final String REMOTE_MOUNT_RECOVERED = "RemoteMountRecovered";

  /** The Normal event for a layer fetched from the cold tier's bucket (no member held it). */
  public static final String FETCHED_FROM_BUCKET = "FetchedFromBucket";

  /** The Warning event for an image that could not be preloaded (tried again every 30 s). */
  public static final String PRELOAD_FAILED_EVENT = "PreloadFailed";

  /** The Normal event for an image preloaded after failing. */
  public static final String PRELOADED_EVENT = "Preloaded";

  /** How many failed preloads the condition's message names; the rest are counted. */
  private static final int FAILED_PRELOADS_NAMED = 3;

  /** The LayerStore condition that says whether the scrub found copies that failed. */
  public static final String COPIES_VERIFIED = "CopiesVerified";

  /** The Warning event for a copy that failed verification (and was quarantined). */
  public static final String CORRUPT_COPY = "CorruptCopy";

  /** How many dead mounts the condition's message names; the rest are counted. */
  private static final int DEAD_MOUNTS_NAMED = 3;

  private static final int PARALLEL_FETCHES = 2;

  /** How long a failed fetch waits before it is tried again. */
  static final Duration FETCH_RETRY = Duration.ofSeconds(10);

  /** How long a failed preload waits before it is tried again. */
  static final Duration PRELOAD_RETRY = Duration.ofSeconds(30);

  private final KubernetesClient client;
  private final String nodeName;
  private final LocalLayerStore store;
  private final io.layerns.csi.registry.PrivateImages privateImages;
  private final LayerFetcher fetcher;
  private final VolumeUsage volumes;
  private final StoreEndpoints endpoints;
  private final long capacityBytes;
  private final Clock clock;

  /** One thread decides and reports, so decisions never interleave; fetches run beside it. */
  private final ScheduledExecutorService loop =
      Executors.newSingleThreadScheduledExecutor(r -> thread(r, "agent"));

  private final ExecutorService fetches =
      Executors.newFixedThreadPool(PARALLEL_FETCHES, r -> thread(r, "fetch"));
  private final AtomicBoolean pending = new AtomicBoolean();
  private final Map<String, CopyState> inFlight = new ConcurrentHashMap<>();
  private final Map<String, String> failures = new ConcurrentHashMap<>();

  /** Why each image given to preload failed last, by image; removed when it is imported. */
  private final Map<String, String> preloadFailures = new ConcurrentHashMap<>();

  /**
   * When a failed fetch (by digest) or preload (by image) may run again. Without it every pass
   * started the next attempt at once (the end of an attempt triggers a pass): a source that refused
   * at once was asked dozens of times a second, and the layer looked Fetching all the time.
   */
  private final Map<String, java.time.Instant> retryAt = new ConcurrentHashMap<>();

  private final EventRecorder events;

  /** Layers the operator has listed in this node's spec, remembered across restarts. */
  private final ListedLayers seenInSpec;

  /** When each held layer was first seen on disk by this process. */
  private final Map<String, java.time.Instant> firstSeen = new ConcurrentHashMap<>();

  private final java.time.Duration arrivalGrace;
  private final Preloader preloader;
  private final LayerSources sources;
  private final OwnCopies own;
  private final Set<String> preloading = ConcurrentHashMap.newKeySet();
  private volatile io.layerns.api.v1alpha1.LayerStore current;
  private LayerStoreStatus lastReported;

  /**
   * The remote mounts found dead by the last check, by layer and holder; null while nothing checks
   * them (then the status has no such condition rather than a claim nobody verified).
   */
  private volatile Map<RemoteLayer, DeadMount> deadMounts;

  /**
   * Probes can take seconds each (a dead FUSE mount answers only by timing out): not on the loop.
   */
  private final ScheduledExecutorService mountChecks =
      Executors.newSingleThreadScheduledExecutor(r -> thread(r, "mount-health"));

  /** The remote mount check, once set up: run again when the LayerStore first arrives. */
  private volatile Runnable mountCheck;

  private SharedIndexInformer<io.layerns.api.v1alpha1.LayerStore> informer;

  /** Null while this agent keeps no bucket copies (then it reports no cold copies). */
  private volatile io.layerns.csi.cold.ColdKeeper coldKeeper;

  /** Null while this agent does not scrub (then copies report no verification time). */
  private volatile Scrubber scrubber;

  private volatile io.layerns.csi.metrics.NodeMetrics metrics =
      io.layerns.csi.metrics.NodeMetrics.NONE;

  /**
   * Copies the scrub failed, by digest, with when: told until a good copy is back, or for {@link
   * #CORRUPT_TOLD_FOR} when the node keeps none.
   */
  private final Map<String, Failure> corrupt = new ConcurrentHashMap<>();

  private record Failure(String problem, java.time.Instant at) {}

  /** How long the condition names a failed copy that the node no longer keeps. */
  private static final Duration CORRUPT_TOLD_FOR = Duration.ofHours(1);

  public NodeAgent(
      KubernetesClient client,
      String nodeName,
      LocalLayerStore store,
      LayerFetcher fetcher,
      VolumeUsage volumes,
      StoreEndpoints endpoints,
      long capacityBytes,
      java.time.Duration arrivalGrace,
      Preloader preloader,
      Clock clock)
      throws IOException {
    this.arrivalGrace = arrivalGrace;
    this.preloader = preloader;
    this.sources = new LayerSources(store.root().resolve("sources.properties"));
    this.own = new OwnCopies(store.root().resolve("own-copies"));
    this.seenInSpec = new ListedLayers(store.root().resolve("listed-layers"));
    this.client = client;
    this.nodeName = nodeName;
    this.store = store;
    this.privateImages = new io.layerns.csi.registry.PrivateImages(store.root());
    this.fetcher = fetcher;
    this.volumes = volumes;
    this.endpoints = endpoints;
    this.capacityBytes = capacityBytes;
    this.clock = clock;
    this.events = new EventRecorder(client, clock, EventRecorder.NODE_PLUGIN, nodeName);
  }

  /** Starts watching this node's LayerStore. */
  public void start() {
    informer =
        client
            .resources(io.layerns.api.v1alpha1.LayerStore.class)
            .withName(nodeName)
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(io.layerns.api.v1alpha1.LayerStore obj) {
                    current = obj;
                    trigger();
                    // Checks before now had nothing to tell on: tell what they found at once.
                    Runnable check = mountCheck;
                    if (check != null) {
                      mountChecks.execute(check);
                    }
                  }

                  @Override
                  public void onUpdate(
                      io.layerns.api.v1alpha1.LayerStore old,
                      io.layerns.api.v1alpha1.LayerStore obj) {
                    current = obj;
                    trigger();
                  }

                  @Override
                  public void onDelete(io.layerns.api.v1alpha1.LayerStore obj, boolean unknown) {
                    current = null;
                  }
                });
    LOG.info("node agent for {} started; store {}", nodeName, store.root());
  }

  /** Why the agent is not at work, or null when it watches its LayerStore and its loop runs. */
  public String notRunningReason() {
    if (informer == null) {
      return "node agent not started";
    }
    if (loop.isShutdown()) {
      return "node agent closed";
    }
    return informer.isRunning()
        ? null
        : "node agent's watch of LayerStore " + nodeName + " stopped";
  }

  /** Where evictions and the scrub's findings are counted. */
  public void recordTo(io.layerns.csi.metrics.NodeMetrics metrics) {
    this.metrics = metrics;
    Scrubber scrub = scrubber;
    if (scrub != null) {
      metrics.watchScrubReads(scrub::bytesRead);
    }
  }

  /** The remote layer mounts the last check found not answering (and could not repair). */
  public java.util.Set<RemoteLayer> deadRemoteMounts() {
    Map<RemoteLayer, DeadMount> dead = deadMounts;
    return dead == null ? java.util.Set.of() : dead.keySet();
  }

  /**
   * Checks this node's remote layer mounts every {@code every}: the status condition {@value
   * #REMOTE_MOUNTS_HEALTHY} says which do not answer, and each mount that stops answering gets a
   * Warning event ({@value #REMOTE_MOUNT_DEAD}) on this node's LayerStore.
   */
  public void watchRemoteMounts(RemoteMountHealth health, Duration every, EventRecorder events) {
    watchRemoteMounts(health, RemoteMountRepair.NONE, every, events);
  }

  /**
   * As {@link #watchRemoteMounts(RemoteMountHealth, Duration, EventRecorder)}, and mounts again
   * what {@code repair} can, each with a Normal event ({@value #REMOTE_MOUNT_REPAIRED}).
   */
  public void watchRemoteMounts(
      RemoteMountHealth health, RemoteMountRepair repair, Duration every, EventRecorder events) {
    deadMounts = Map.of();
    Runnable check = () -> checkRemoteMounts(health, repair, events);
    mountCheck = check;
    mountChecks.scheduleWithFixedDelay(check, 0, every.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void checkRemoteMounts(
      RemoteMountHealth health, RemoteMountRepair repair, EventRecorder events) {
    io.layerns.api.v1alpha1.LayerStore obj = current;
    if (obj == null) {
      // Nothing to tell on yet (a restarted plugin before its LayerStore arrived): what is dead
      // now is told, and repaired, by the check that runs once it has arrived.
      return;
    }
    Map<RemoteLayer, DeadMount> found = new java.util.TreeMap<>(REMOTE_LAYER_ORDER);
    try {
      for (DeadMount d : health.deadMounts()) {
        found.put(d.layer(), d);
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not check the remote layer mounts: {}", e.toString());
      return;
    }
    Map<RemoteLayer, DeadMount> before = deadMounts;
    for (DeadMount d : found.values()) {
      if (!before.containsKey(d.layer())) {
        LOG.warn("remote mount {} does not answer: {}", d.mountPoint(), d.reason());
        events.warning(obj, REMOTE_MOUNT_DEAD, describe(d) + "; volumes reading it get I/O errors");
      }
    }
    Map<RemoteLayer, String> repaired;
    try {
      repaired = repair.repair(List.copyOf(found.values()));
    } catch (RuntimeException e) {
      // A check that throws would never run again (scheduleWithFixedDelay): tell and go on.
      LOG.warn("could not repair the dead remote mounts: {}", e.toString());
      repaired = Map.of();
    }
    repaired.forEach(
        (layer, what) -> {
          LOG.info("repaired: {}", what);
          events.normal(obj, REMOTE_MOUNT_REPAIRED, what);
          found.remove(layer);
        });
    if (found.keySet().equals(before.keySet())) {
      return; // same mounts dead (their reasons may read differently): nothing new to tell
    }
    for (DeadMount d : before.values()) {
      if (!found.containsKey(d.layer()) && !repaired.containsKey(d.layer())) {
        LOG.info("remote mount {} answers again (or is gone)", d.mountPoint());
        events.normal(
            obj,
            REMOTE_MOUNT_RECOVERED,
            "layer "
                + d.layer().layer()
                + " from node "
                + d.layer().node()
                + " answers again"
                + " or is no longer mounted");
      }
    }
    deadMounts = found;
    trigger();
  }

  private static final Comparator<RemoteLayer> REMOTE_LAYER_ORDER =
      Comparator.comparing(RemoteLayer::node).thenComparing(l -> l.layer().toString());

  private static String describe(DeadMount d) {
    return "layer "
        + d.layer().layer()
        + " mounted from node "
        + d.layer().node()
        + " at "
        + d.mountPoint()
        + " does not answer ("
        + d.reason()
        + ")";
  }

  /**
   * Re-verifies the store's copies at the given rate and period (see {@link Scrubber}), and at once
   * when the spec asks ({@code verifyAfter}). A copy that fails is quarantined, named in the
   * condition {@value #COPIES_VERIFIED} and a Warning event ({@value #CORRUPT_COPY}), and fetched
   * again from peers or its source when the node is to keep it.
   */
  public void scrub(Scrubber.Settings settings, EventRecorder events) {
    scrubber =
        new Scrubber(
                store,
                settings,
                clock,
                new Scrubber.Listener() {
                  @Override
                  public void verified(Digest digest, java.time.Instant at) {
                    metrics.scrubVerified();
                    trigger();
                  }

                  @Override
                  public void failed(Digest digest, String problem) {
                    metrics.scrubFoundCorrupt();
                    corrupt.put(digest.toString(), new Failure(problem, clock.instant()));
                    io.layerns.api.v1alpha1.LayerStore obj = current;
                    if (obj != null) {
                      events.warning(
                          obj,
                          CORRUPT_COPY,
                          "copy of layer "
                              + digest
                              + " failed verification: "
                              + problem
                              + "; taken out of service and fetched again if this node keeps it");
                    }
                    trigger();
                  }
                })
            .start();
    Scrubber started = scrubber;
    metrics.watchScrubReads(started::bytesRead);
  }

  /**
   * Keeps the bucket copies of the layers the spec marks {@code coldKeeper} (see {@link
   * io.layerns.csi.cold.ColdKeeper}): their states go to {@code status.coldCopies}, the bucket's
   * health to the {@code ColdTierReady} condition, and what the scrub finds to events.
   */
  public void keepCold(
      io.layerns.csi.cold.ColdBuckets buckets, Scrubber.Settings settings, EventRecorder events) {
    coldKeeper =
        new io.layerns.csi.cold.ColdKeeper(
                buckets,
                store::blob,
                settings,
                clock,
                new io.layerns.csi.cold.ColdKeeper.Listener() {
                  @Override
                  public void changed() {
                    trigger();
                  }

                  @Override
                  public void event(boolean warning, String reason, String message) {
                    tell(
                        o -> {
                          if (warning) {
                            events.warning(o, reason, message);
                          } else {
                            events.normal(o, reason, message);
                          }
                        });
                  }
                })
            .start();
  }

  /** Asks for a pass; passes coalesce while one is queued. */
  public void trigger() {
    if (pending.compareAndSet(false, true)) {
      loop.execute(this::pass);
    }
  }

  private void pass() {
    pending.set(false);
    io.layerns.api.v1alpha1.LayerStore obj = current;
    if (obj == null || obj.getSpec() == null) {
      return; // the operator has not made this node a member (yet)
    }
    try {
      reconcile(obj.getSpec());
      report(obj);
    } catch (IOException | RuntimeException e) {
      LOG.warn("node agent pass failed, retrying in 5s: {}", e.toString());
      loop.schedule(this::trigger, 5, TimeUnit.SECONDS);
    }
  }

  // Observe the store, fetch what is missing, drop what is no longer wanted.
  private void reconcile(LayerStoreSpec spec) throws IOException {
    Map<String, StoredLayer> held = new HashMap<>();
    for (StoredLayer layer : store.listLayers()) {
      held.put(layer.digest().toString(), layer);
    }
    List<AssignedLayer> assigned = spec.layers() == null ? List.of() : spec.layers();
    Map<String, StoreEndpoints> peers = new HashMap<>();
    if (spec.peers() != null) {
      for (PeerEndpoints p : spec.peers()) {
        peers.put(p.node(), p.endpoints());
      }
    }
    Set<String> wanted = new HashSet<>();
    Scrubber scrub = scrubber;
    var now = clock.instant();
    Set<Digest> keptCold = new HashSet<>();
    for (AssignedLayer layer : assigned) {
      if (layer.keepsColdCopy()) {
        keptCold.add(Digest.parse(layer.digest()));
      }
      if (!layer.mustHold()) {
        continue; // listed only to keep its bucket copy checked: fetched for nothing
      }
      wanted.add(layer.digest());
      if (scrub != null && layer.verifyAfter() != null && held.containsKey(layer.digest())) {
        Digest d = Digest.parse(layer.digest());
        var asked = java.time.Instant.parse(layer.verifyAfter());
        if (store.lastVerified(d).map(at -> at.isBefore(asked)).orElse(false)) {
          scrub.request(d);
        }
      }
      if (!held.containsKey(layer.digest())
          && !waitingToRetry(layer.digest(), now)
          && inFlight.putIfAbsent(layer.digest(), CopyState.Fetching) == null) {
        own.placing(layer.digest());
        io.layerns.api.v1alpha1.ColdTier cold = spec.coldTier();
        fetches.execute(() -> fetch(layer, peers, cold));
      }
    }
    io.layerns.csi.cold.ColdKeeper keeper = coldKeeper;
    if (keeper != null) {
      keeper.keep(spec.coldTier(), keptCold);
    }
    seenInSpec.update(wanted, held.keySet());
    preload(spec, now);
    Set<String> used = layersInUse();
    for (String digest : held.keySet()) {
      firstSeen.putIfAbsent(digest, now);
      if (wanted.contains(digest) || used.contains(digest) || !mayDrop(digest, now)) {
        continue;
      }
      DeleteOutcome outcome = store.deleteLayer(Digest.parse(digest));
      if (outcome == DeleteOutcome.DELETED) {
        metrics.evicted();
        store.deleteBlob(Digest.parse(digest));
        seenInSpec.remove(digest);
        firstSeen.remove(digest);
      }
      LOG.info("dropped {}: no longer assigned and not in use ({})", digest, outcome);
    }
    firstSeen.keySet().retainAll(held.keySet());
    failures.keySet().retainAll(wanted);
    preloadFailures
        .keySet()
        .retainAll(spec.preloadImages() == null ? Set.of() : Set.copyOf(spec.preloadImages()));
    retryAt.keySet().retainAll(union(failures.keySet(), preloadFailures.keySet()));

    // A corrupt copy is told until a good one is back, or the node is no longer to keep one.
    corrupt
        .entrySet()
        .removeIf(
            e ->
                store.hasLayer(Digest.parse(e.getKey()))
                    || (!wanted.contains(e.getKey())
                        && e.getValue().at().plus(CORRUPT_TOLD_FOR).isBefore(now)));
  }

  /** Whether a failed fetch or preload of {@code key} must still wait before its next attempt. */
  private boolean waitingToRetry(String key, java.time.Instant now) {
    java.time.Instant at = retryAt.get(key);
    return at != null && now.isBefore(at);
  }

  /** Notes a failed attempt: the next waits {@code delay}, and a pass comes then. */
  private void retryLater(String key, Duration delay) {
    retryAt.put(key, clock.instant().plus(delay));
    loop.schedule(this::trigger, delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> out = new HashSet<>(a);
    out.addAll(b);
    return out;
  }

  /** Imports the images the operator gave this node to preload, once each. */
  private void preload(LayerStoreSpec spec, java.time.Instant now) throws IOException {
    if (spec.preloadImages() == null) {
      return;
    }
    for (String image : spec.preloadImages()) {
      if (preloader.imported(image) || waitingToRetry(image, now) || !preloading.add(image)) {
        continue;
      }
      fetches.execute(
          () -> {
            try {
              sources.recordAll(preloader.importImage(image));
              retryAt.remove(image);
              LOG.info("preloaded {}", image);
              if (preloadFailures.remove(image) != null) {
                tell(
                    e ->
                        events.normal(e, PRELOADED_EVENT, "preloaded " + image + " after failing"));
              }
            } catch (IOException | RuntimeException e) {
              String why = String.valueOf(e.getMessage());
              LOG.warn("could not preload {}: {}", image, why);
              if (!why.equals(preloadFailures.put(image, why))) {
                tell(
                    o ->
                        events.warning(
                            o,
                            PRELOAD_FAILED_EVENT,
                            "could not preload " + image + " (tried again in 30 s): " + why));
              }
              retryLater(image, PRELOAD_RETRY);
            } finally {
              preloading.remove(image);
              trigger();
            }
          });
    }
  }

  /** Records an event on this node's LayerStore, once it is known. */
  private void tell(java.util.function.Consumer<io.layerns.api.v1alpha1.LayerStore> event) {
    io.layerns.api.v1alpha1.LayerStore obj = current;
    if (obj != null) {
      event.accept(obj);
    }
  }

  /**
   * A copy the operator has never listed may be one it has not seen yet (a fresh import): it is
   * kept until the operator lists it, or for the arrival grace, so a slow watch never loses it.
   */
  private boolean mayDrop(String digest, java.time.Instant now) {
    if (seenInSpec.contains(digest)) {
      return true;
    }
    boolean expired = !firstSeen.get(digest).plus(arrivalGrace).isAfter(now);
    if (!expired) {
      loop.schedule(this::trigger, arrivalGrace.toMillis() + 100, TimeUnit.MILLISECONDS);
    }
    return expired;
  }

  private void fetch(
      AssignedLayer layer,
      Map<String, StoreEndpoints> peers,
      io.layerns.api.v1alpha1.ColdTier coldTier) {
    long start = System.nanoTime();
    try {
      // Before it lands: a layer private on the peers is private here too (see learnMarks).
      learnMarks(layer);
      String from = fetcher.fetch(layer, peers, coldTier);
      failures.remove(layer.digest());
      retryAt.remove(layer.digest());
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      LOG.info(
          "fetched {} from {} in {} ms",
          layer.digest(),
          from == null ? "the store (another fetch brought it)" : from,
          ms);
      if (from != null && from.startsWith(io.layerns.csi.cold.Bucket.DESCRIBED_AS)) {
        // Rare and worth seeing: no member held the layer, and the registry was not needed.
        tell(
            o ->
                events.normal(
                    o,
                    FETCHED_FROM_BUCKET,
                    "layer " + layer.digest() + " fetched from " + from + " in " + ms + " ms"));
      }
    } catch (IOException | RuntimeException e) {
      if (failures.put(layer.digest(), String.valueOf(e.getMessage())) == null) {
        tell(
            o ->
                events.warning(
                    o,
                    FETCH_FAILED,
                    "could not fetch layer "
                        + layer.digest()
                        + " (tried again in 10 s): "
                        + e.getMessage()));
      }
      LOG.warn("could not fetch {}: {}", layer.digest(), e.getMessage());
      retryLater(layer.digest(), FETCH_RETRY); // peers or the source may come back
    } finally {
      inFlight.remove(layer.digest());
      trigger();
    }
  }

  /**
   * Records the private marks that the peers named for {@code layer} publish for it, so that this
   * node keeps refusing it to pods without access (and keeps it out of its NFS export) after those
   * peers drop their copies.
   */
  private void learnMarks(AssignedLayer layer) throws IOException {
    if (layer.peers() == null) {
      return;
    }
    Set<String> marks = new java.util.TreeSet<>();
    for (String peer : layer.peers()) {
      io.layerns.api.v1alpha1.LayerStore s;
      try {
        s = client.resources(io.layerns.api.v1alpha1.LayerStore.class).withName(peer).get();
      } catch (KubernetesClientException e) {
        throw new IOException(
            "could not read " + peer + "'s LayerStore for its private marks: " + e.getMessage(), e);
      }
      if (s == null || s.getStatus() == null || s.getStatus().layers() == null) {
        continue;
      }
      for (HeldLayer h : s.getStatus().layers()) {
        if (h.digest().equals(layer.digest()) && h.privateTo() != null) {
          marks.addAll(h.privateTo());
        }
      }
    }
    if (!marks.isEmpty()) {
      privateImages.recordLayer(Digest.parse(layer.digest()), marks);
      LOG.info("layer {} is private to {} on its peers: marked here too", layer.digest(), marks);
    }
  }

  private Set<String> layersInUse() {
    return VolumeUsages.readHere(volumes.publishedVolumes(), nodeName);
  }

  // Report: one status write, only when something changed.
  private void report(io.layerns.api.v1alpha1.LayerStore obj) throws IOException {
    List<HeldLayer> layers = new ArrayList<>();
    Set<String> listed = new HashSet<>();
    Map<Digest, Set<String>> marks = privateImages.layerMarks();
    for (StoredLayer layer : store.listLayers()) {
      String digest = layer.digest().toString();
      listed.add(digest);
      long size =
          store.blob(layer.digest()).map(p -> p.toFile().length()).orElse(layer.contentBytes());
      String verified =
          scrubber == null
              ? null
              : store.lastVerified(layer.digest()).map(java.time.Instant::toString).orElse(null);
      // Peers read this to refuse the layer to pods without access, on every member node.
      List<String> privateTo = List.copyOf(marks.getOrDefault(layer.digest(), Set.of()));
      layers.add(
          new HeldLayer(
              digest,
              size,
              layer.mediaType(),
              CopyState.Present,
              sources.of(digest),
              verified,
              privateTo));
    }
    List<AssignedLayer> assigned =
        obj.getSpec().layers() == null ? List.of() : obj.getSpec().layers();
    for (AssignedLayer a : assigned) {
      if (listed.contains(a.digest())) {
        continue;
      }
      if (inFlight.containsKey(a.digest())) {
        layers.add(new HeldLayer(a.digest(), a.size(), a.mediaType(), CopyState.Fetching, null));
      } else if (failures.containsKey(a.digest())) {
        layers.add(new HeldLayer(a.digest(), a.size(), a.mediaType(), CopyState.Failed, null));
      }
    }
    layers.sort(Comparator.comparing(HeldLayer::digest));
    List<PublishedVolume> published = volumes.publishedVolumes();
    own.observe(
        listed,
        published.stream()
            .flatMap(v -> v.layers() == null ? java.util.stream.Stream.of() : v.layers().stream())
            .map(io.layerns.api.v1alpha1.VolumeLayer::digest)
            .toList(),
        inFlight.keySet());
    long used = store.usedBytes();
    var conditions = lastReported == null ? null : lastReported.conditions();
    conditions =
        Conditions.set(
            conditions,
            Conditions.READY,
            true,
            "Serving",
            "The agent serves its store and obeys its spec.",
            obj.getMetadata().getGeneration(),
            clock.instant());
    conditions =
        Conditions.set(
            conditions,
            FETCH_FAILED,
            !failures.isEmpty(),
            failures.isEmpty() ? "NoFailure" : "PeersAndSourcesFailed",
            failures.isEmpty()
                ? "Every assigned layer arrived or is on its way."
                : failures.size()
                    + " layers could not be fetched; first: "
                    + failures.values().iterator().next(),
            obj.getMetadata().getGeneration(),
            clock.instant());
    Map<String, String> failedPreloads = new java.util.TreeMap<>(preloadFailures);
    conditions =
        Conditions.set(
            conditions,
            Conditions.PRELOAD_FAILED,
            !failedPreloads.isEmpty(),
            failedPreloads.isEmpty() ? "NoFailure" : "ImportFailed",
            failedPreloads.isEmpty()
                ? "Every image given to this node to preload is imported or on its way."
                : failedPreloadsMessage(failedPreloads),
            obj.getMetadata().getGeneration(),
            clock.instant());

    if (scrubber != null) {
      conditions =
          Conditions.set(
              conditions,
              COPIES_VERIFIED,
              corrupt.isEmpty(),
              corrupt.isEmpty() ? "NoCorruptCopy" : "CorruptCopiesFound",
              corrupt.isEmpty()
                  ? "Every copy that the scrub read matched what was verified at import."
                  : corrupt.size()
                      + " copies failed verification and were taken out of service (fetched"
                      + " again where kept); first: "
                      + corrupt.entrySet().iterator().next().getKey()
                      + ": "
                      + corrupt.entrySet().iterator().next().getValue().problem(),
              obj.getMetadata().getGeneration(),
              clock.instant());
    }
    io.layerns.csi.cold.ColdKeeper keeper = coldKeeper;
    var access =
        keeper == null || obj.getSpec().coldTier() == null
            ? java.util.Optional.<io.layerns.csi.cold.ColdKeeper.Access>empty()
            : keeper.access();
    if (access.isPresent()) {
      conditions =
          Conditions.set(
              conditions,
              Conditions.COLD_TIER_READY,
              access.get().ready(),
              access.get().reason(),
              access.get().message(),
              obj.getMetadata().getGeneration(),
              clock.instant());
    } else if (conditions != null && obj.getSpec().coldTier() == null) {
      conditions =
          conditions.stream().filter(c -> !Conditions.COLD_TIER_READY.equals(c.getType())).toList();
    }
    Map<RemoteLayer, DeadMount> dead = deadMounts;
    if (dead != null) {
      conditions =
          Conditions.set(
              conditions,
              REMOTE_MOUNTS_HEALTHY,
              dead.isEmpty(),
              dead.isEmpty() ? "AllAnswering" : "MountsDead",
              dead.isEmpty()
                  ? "Every remote layer mount of this node answers."
                  : deadMountsMessage(dead.values()),
              obj.getMetadata().getGeneration(),
              clock.instant());
    }
    LayerStoreStatus status =
        new LayerStoreStatus(
            obj.getMetadata().getGeneration(),
            endpoints,
            capacityBytes,
            used,
            ByteSizes.format(capacityBytes),
            ByteSizes.format(used),
            assigned.size(),
            (int) layers.stream().filter(l -> l.state() == CopyState.Present).count(),
            layers,
            // Always a list, even empty: the status is sent as a merge patch, where an absent
            // field would leave the last volumes in place and pin their layers forever.
            published,
            published.size(),
            conditions,
            store.fetchedBytes().fromPeers(),
            store.fetchedBytes().fromRegistries(),
            own.released(),
            coldCopies(obj.getSpec()),
            store.fetchedBytes().fromBucket());
    if (status.equals(lastReported) || status.equals(obj.getStatus())) {
      lastReported = status;
      return;
    }
    var patch = new io.layerns.api.v1alpha1.LayerStore();
    patch.setMetadata(
        new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(nodeName).build());
    patch.setStatus(status);
    try {
      client.resource(patch).patchStatus();
      lastReported = status;
    } catch (KubernetesClientException e) {
      throw new IOException(
          "could not report status of LayerStore " + nodeName + ": " + e.getMessage(), e);
    }
  }

  /** The cold keeper's reports, or null when this node keeps no bucket copies. */
  private List<io.layerns.api.v1alpha1.ColdCopy> coldCopies(LayerStoreSpec spec) {
    io.layerns.csi.cold.ColdKeeper keeper = coldKeeper;
    if (keeper == null || spec.coldTier() == null) {
      return null;
    }
    return keeper.copies();
  }

  private static String failedPreloadsMessage(Map<String, String> failed) {
    StringBuilder m = new StringBuilder(failed.size() + " images could not be preloaded: ");
    failed.entrySet().stream()
        .limit(FAILED_PRELOADS_NAMED)
        .forEach(e -> m.append(e.getKey()).append(" (").append(e.getValue()).append("); "));
    if (failed.size() > FAILED_PRELOADS_NAMED) {
      m.append("and ").append(failed.size() - FAILED_PRELOADS_NAMED).append(" more; ");
    }
    return m.append("tried again every 30 s.").toString();
  }

  private static String deadMountsMessage(java.util.Collection<DeadMount> dead) {
    StringBuilder m = new StringBuilder(dead.size() + " remote layer mounts do not answer: ");
    dead.stream()
        .limit(DEAD_MOUNTS_NAMED)
        .forEach(
            d ->
                m.append(d.layer().layer())
                    .append(" from node ")
                    .append(d.layer().node())
                    .append(" (")
                    .append(d.reason())
                    .append("); "));
    if (dead.size() > DEAD_MOUNTS_NAMED) {
      m.append("and ").append(dead.size() - DEAD_MOUNTS_NAMED).append(" more; ");
    }
    return m.append("volumes reading them get I/O errors until their peers answer again.")
        .toString();
  }

  private static Thread thread(Runnable r, String name) {
    Thread t = new Thread(r, "node-agent-" + name);
    t.setDaemon(true);
    return t;
  }

  @Override
  public void close() {
    if (informer != null) {
      informer.close();
    }
    loop.shutdownNow();
    fetches.shutdownNow();
    if (scrubber != null) {
      scrubber.close();
    }
    if (coldKeeper != null) {
      coldKeeper.close();
    }
    mountChecks.shutdownNow();
  }
}
