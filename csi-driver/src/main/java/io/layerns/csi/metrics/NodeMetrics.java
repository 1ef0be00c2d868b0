package io.layerns.csi.metrics;

import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The node plugin's Prometheus metrics ({@code layerns_node_*}, served at {@code /metrics} on the
 * health port): what the choke points (publish and unpublish, the importer's fetches, the exports,
 * the agent's evictions and scrub) record, and gauges read from the store and the remote mounts at
 * each scrape. Every series of a closed label set exists from the start at zero, so that {@code
 * rate()} and {@code increase()} see the first event.
 */
public final class NodeMetrics {

  /** How a publish reached its layers; see {@link #published}. */
  public static final List<String> TRANSPORTS = List.of("local", "sshfs", "nfs", "copy");

  /** Where fetched bytes came from. */
  public enum Source {
    PEER,
    REGISTRY,
    LAYOUT,
    /** The cold tier's bucket. */
    BUCKET;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The export that served bytes to a peer. */
  public enum Export {
    HTTP,
    SFTP;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Why the plugin refused something it was sent or asked. */
  public enum Refusal {
    /** A layer whose bytes do not match their digest, or whose content the unpacker refuses. */
    HOSTILE_INPUT,
    /** A CSI request refused as INVALID_ARGUMENT (a field missing, too long, not normal). */
    INVALID_REQUEST,
    /** A registry refused the pod's credentials, or the pod may not read a private image. */
    ACCESS_DENIED,
    /** An export refused a client that is not a member node (address or key). */
    NON_MEMBER;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** How containerd's mirror answered a request for a blob or manifest. */
  public enum MirrorSource {
    /** Served from this node's store. */
    LOCAL,
    /** Fetched from a member peer, verified, then served. */
    PEER,
    /** Answered 404: containerd goes to the upstream registry. */
    NOT_FOUND,
    /** Answered 401: private content, and no credentials the registry accepts were shown. */
    UNAUTHORIZED;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Publish and unpublish latency buckets: the kubelet gives a call about two minutes. */
  private static final Duration[] LATENCY_BUCKETS = {
    Duration.ofMillis(100),
    Duration.ofMillis(250),
    Duration.ofMillis(500),
    Duration.ofSeconds(1),
    Duration.ofSeconds(2),
    Duration.ofSeconds(5),
    Duration.ofSeconds(10),
    Duration.ofSeconds(30),
    Duration.ofSeconds(60),
    Duration.ofSeconds(120)
  };

  /** Records nothing: for components that run without a metrics endpoint (tests, tools). */
  // Declared after the constants above, which the constructor reads.
  public static final NodeMetrics NONE = new NodeMetrics(new CompositeMeterRegistry());

  private final MeterRegistry registry;
  private final Map<Source, Counter> fetched = new java.util.EnumMap<>(Source.class);
  private final Map<Export, Counter> served = new java.util.EnumMap<>(Export.class);
  private final Map<Refusal, Counter> refusals = new java.util.EnumMap<>(Refusal.class);
  private final Map<MirrorSource, Counter> mirrorRequests =
      new java.util.EnumMap<>(MirrorSource.class);
  private final Map<MirrorSource, Counter> mirrorBytes =
      new java.util.EnumMap<>(MirrorSource.class);
  private final Counter evictions;
  private final Counter scrubVerified;
  private final Counter scrubCorrupt;
  private final AtomicReference<LongSupplier> scrubBytes = new AtomicReference<>(() -> 0);
  private final MultiGauge remoteMounts;
  private volatile Supplier<List<MultiGauge.Row<?>>> remoteMountRows = List::of;

  public NodeMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (Source s : Source.values()) {
      fetched.put(
          s,
          Counter.builder("layerns.node.fetched")
              .baseUnit(BaseUnits.BYTES)
              .description("Bytes of blobs and layers fetched into the store, by source")
              .tag("source", s.label())
              .register(registry));
    }
    for (Export e : Export.values()) {
      served.put(
          e,
          Counter.builder("layerns.node.served")
              .baseUnit(BaseUnits.BYTES)
              .description("Bytes served to peers, by export")
              .tag("export", e.label())
              .register(registry));
    }
    for (Refusal r : Refusal.values()) {
      refusals.put(
          r,
          Counter.builder("layerns.node.refusals")
              .description("Inputs and clients refused, by reason")
              .tag("reason", r.label())
              .register(registry));
    }
    for (MirrorSource m : MirrorSource.values()) {
      mirrorRequests.put(
          m,
          Counter.builder("layerns.node.mirror.requests")
              .description("Blob and manifest requests containerd's mirror answered, by source")
              .tag("source", m.label())
              .register(registry));
      mirrorBytes.put(
          m,
          Counter.builder("layerns.node.mirror.served")
              .baseUnit(BaseUnits.BYTES)
              .description("Bytes containerd's mirror served, by source")
              .tag("source", m.label())
              .register(registry));
    }
    evictions =
        Counter.builder("layerns.node.evictions")
            .description(
                "Copies dropped because the node no longer keeps them and no volume uses them")
            .register(registry);
    scrubVerified =
        Counter.builder("layerns.node.scrub.copies.verified")
            .description("Copies the scrub re-verified and found intact")
            .register(registry);
    scrubCorrupt =
        Counter.builder("layerns.node.scrub.corrupt.copies")
            .description("Copies the scrub found corrupt and quarantined")
            .register(registry);
    FunctionCounter.builder(
            "layerns.node.scrub.read", scrubBytes, s -> (double) s.get().getAsLong())
        .baseUnit(BaseUnits.BYTES)
        .description("Bytes the scrub read (blobs and trees)")
        .register(registry);
    remoteMounts =
        MultiGauge.builder("layerns.node.remote.mounts")
            .description("Remote layer mounts this node holds, by peer and state (alive, dead)")
            .register(registry);
    for (String transport : TRANSPORTS) {
      publishTimer(transport, "ok");
    }
    unpublishTimer("ok");
  }

  /** Metrics kept for Prometheus to scrape. */
  public static NodeMetrics prometheus() {
    return new NodeMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  /** The Prometheus text exposition of every metric, gauges read now. */
  public String scrape() {
    remoteMounts.register(remoteMountRows.get(), true);
    if (registry instanceof PrometheusMeterRegistry p) {
      return p.scrape();
    }
    throw new IllegalStateException("not a Prometheus registry: " + registry.getClass().getName());
  }

  public MeterRegistry registry() {
    return registry;
  }

  // ---- events ------------------------------------------------------------------------------

  /**
   * A NodePublishVolume call ended.
   *
   * @param transport how its layers were reached (one of {@link #TRANSPORTS}), or {@code none} when
   *     it failed before
   * @param outcome {@code ok} or the gRPC status code, lower case
   */
  public void published(String transport, String outcome, long nanos) {
    publishTimer(transport, outcome).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** A NodeUnpublishVolume call ended; {@code outcome} as for {@link #published}. */
  public void unpublished(String outcome, long nanos) {
    unpublishTimer(outcome).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Counts what is read from {@code in} as bytes fetched from {@code source}. */
  public InputStream countFetched(Source source, InputStream in) {
    Counter counter = fetched.get(source);
    return new FilterInputStream(in) {
      @Override
      public int read() throws IOException {
        int b = super.read();
        if (b >= 0) {
          counter.increment();
        }
        return b;
      }

      @Override
      public int read(byte[] buf, int off, int len) throws IOException {
        int n = super.read(buf, off, len);
        if (n > 0) {
          counter.increment(n);
        }
        return n;
      }
    };
  }

  public void served(Export export, long bytes) {
    if (bytes > 0) {
      served.get(export).increment(bytes);
    }
  }

  /** containerd's mirror answered one request from {@code source}, with {@code bytes} of body. */
  public void mirrored(MirrorSource source, long bytes) {
    mirrorRequests.get(source).increment();
    if (bytes > 0) {
      mirrorBytes.get(source).increment(bytes);
    }
  }

  public void refused(Refusal reason) {
    refusals.get(reason).increment();
  }

  public void evicted() {
    evictions.increment();
  }

  public void scrubVerified() {
    scrubVerified.increment();
  }

  public void scrubFoundCorrupt() {
    scrubCorrupt.increment();
  }

  // ---- gauges, read at each scrape ---------------------------------------------------------

  /** Bytes the scrub has read so far (the scrubber's own count). */
  public void watchScrubReads(LongSupplier bytesRead) {
    scrubBytes.set(bytesRead);
  }

  /**
   * Copies held, bytes stored, copies quarantined, and the time since which every copy held has
   * been verified (the oldest last verification: when the last complete scrub pass began).
   */
  public void watchStore(LocalLayerStore store) {
    Gauge.builder("layerns.node.copies", store, s -> orNaN(() -> s.listLayers().size()))
        .description("Layer copies this node holds")
        .register(registry);
    Gauge.builder("layerns.node.stored", store, s -> orNaN(s::usedBytes))
        .baseUnit(BaseUnits.BYTES)
        .description("Bytes the node's layer store uses (blobs and unpacked layers)")
        .register(registry);
    Gauge.builder("layerns.node.quarantined.copies", store, s -> orNaN(s::quarantinedCopies))
        .description("Corrupt copies taken out of service and kept while a volume still reads them")
        .register(registry);
    Gauge.builder(
            "layerns.node.scrub.last.full.pass.timestamp",
            store,
            s ->
                orNaN(
                    () ->
                        oldestVerification(s)
                            .map(i -> i.toEpochMilli() / 1000.0)
                            .orElse(Double.NaN)))
        .baseUnit("seconds")
        .description(
            "Unix time since which every copy held has been verified, at import or by the scrub")
        .register(registry);
  }

  /**
   * Remote layer mounts per peer: {@code mounted} are those held, {@code dead} those the last check
   * found not answering.
   */
  public void watchRemoteMounts(
      Supplier<? extends Collection<RemoteLayer>> mounted,
      Supplier<? extends Collection<RemoteLayer>> dead) {
    remoteMountRows =
        () -> {
          Map<String, long[]> byPeer = new TreeMap<>();
          for (RemoteLayer l : mounted.get()) {
            byPeer.computeIfAbsent(l.node(), n -> new long[2])[0]++;
          }
          for (RemoteLayer l : dead.get()) {
            long[] counts = byPeer.computeIfAbsent(l.node(), n -> new long[2]);
            counts[1]++;
          }
          List<MultiGauge.Row<?>> rows = new ArrayList<>();
          byPeer.forEach(
              (peer, counts) -> {
                rows.add(
                    MultiGauge.Row.of(
                        Tags.of("peer", peer, "state", "alive"),
                        Math.max(0, counts[0] - counts[1])));
                rows.add(MultiGauge.Row.of(Tags.of("peer", peer, "state", "dead"), counts[1]));
              });
          return rows;
        };
  }

  private static Optional<Instant> oldestVerification(LocalLayerStore store) throws IOException {
    Instant oldest = null;
    for (StoredLayer layer : store.listLayers()) {
      Optional<Instant> at = store.lastVerified(layer.digest());
      if (at.isPresent() && (oldest == null || at.get().isBefore(oldest))) {
        oldest = at.get();
      }
    }
    return Optional.ofNullable(oldest);
  }

  private Timer publishTimer(String transport, String outcome) {
    return Timer.builder("layerns.node.publish")
        .description("NodePublishVolume calls: latency, by transport and outcome")
        .tags("transport", transport, "outcome", outcome)
        .serviceLevelObjectives(LATENCY_BUCKETS)
        .register(registry);
  }

  private Timer unpublishTimer(String outcome) {
    return Timer.builder("layerns.node.unpublish")
        .description("NodeUnpublishVolume calls: latency, by outcome")
        .tags("outcome", outcome)
        .serviceLevelObjectives(LATENCY_BUCKETS)
        .register(registry);
  }

  @FunctionalInterface
  private interface Reading {
    double get() throws IOException;
  }

  /** A gauge that cannot be read this time shows NaN rather than failing the scrape. */
  private static double orNaN(Reading reading) {
    try {
      return reading.get();
    } catch (IOException | RuntimeException e) {
      return Double.NaN;
    }
  }
}
