package io.layerns.api.events;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.events.v1.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records Kubernetes events on layerns objects, the way an admin sees them in {@code kubectl
 * describe} and {@code kubectl get events}. Events of cluster-scoped objects live in "default", as
 * for Nodes. Shared by the operator and the node plugins, each under its own controller name.
 */
public final class EventRecorder {
  private static final Logger LOG = LoggerFactory.getLogger(EventRecorder.class);
  private static final String NAMESPACE = "default";

  /** The operator's reporting controller. */
  public static final String OPERATOR = "layerns.io/operator";

  /** The node plugins' reporting controller (each plugin's instance is its node). */
  public static final String NODE_PLUGIN = "layerns.io/node-plugin";

  private final KubernetesClient client;
  private final Clock clock;
  private final String controller;
  private final String instance;

  /**
   * Events recorded lately, so a reconcile that runs again before its status write is visible does
   * not tell the same news twice (bounded: oldest forgotten first).
   */
  private final java.util.Map<String, java.time.Instant> recent =
      java.util.Collections.synchronizedMap(
          new java.util.LinkedHashMap<>(64, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(java.util.Map.Entry<String, java.time.Instant> e) {
              return size() > 10_000;
            }
          });

  private static final java.time.Duration REPEAT_AFTER = java.time.Duration.ofMinutes(10);

  /**
   * The API server's MicroTime layout (Go's RFC3339Micro): always six fraction digits. {@code
   * ISO_INSTANT} drops trailing zero groups (".577Z" when the microseconds are a whole millisecond,
   * about 1 time in 1,000; no fraction at all on a whole second), and the server rejects those
   * events.
   */
  private static final DateTimeFormatter MICRO_TIME =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSS'Z'", java.util.Locale.ROOT)
          .withZone(ZoneOffset.UTC);

  /** {@code at} as a MicroTime string, truncated to microseconds. */
  public static String microTime(java.time.Instant at) {
    return MICRO_TIME.format(at.truncatedTo(ChronoUnit.MICROS));
  }

  public EventRecorder(KubernetesClient client, Clock clock, String controller, String instance) {
    this.client = client;
    this.controller = controller;
    this.clock = clock;
    this.instance = instance;
  }

  public void normal(HasMetadata about, String reason, String note) {
    record(about, "Normal", reason, note);
  }

  public void warning(HasMetadata about, String reason, String note) {
    record(about, "Warning", reason, note);
  }

  private void record(HasMetadata about, String type, String reason, String note) {
    String key = about.getMetadata().getUid() + "|" + reason + "|" + note;
    java.time.Instant now = clock.instant();
    java.time.Instant last = recent.put(key, now);
    if (last != null && last.plus(REPEAT_AFTER).isAfter(now)) {
      return;
    }
    LOG.info(
        "event {} {} {}/{}: {}",
        type,
        reason,
        about.getKind(),
        about.getMetadata().getName(),
        note);
    var event =
        new EventBuilder()
            .withNewMetadata()
            .withName(
                about.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 8))
            .withNamespace(NAMESPACE)
            .endMetadata()
            .withEventTime(
                new io.fabric8.kubernetes.api.model.MicroTime(microTime(clock.instant())))
            .withType(type)
            .withReason(reason)
            .withNote(note)
            .withAction(reason)
            .withReportingController(controller)
            .withReportingInstance(instance)
            .withRegarding(
                new ObjectReferenceBuilder()
                    .withApiVersion(about.getApiVersion())
                    .withKind(about.getKind())
                    .withName(about.getMetadata().getName())
                    .withUid(about.getMetadata().getUid())
                    .build())
            .build();
    try {
      client.events().v1().events().inNamespace(NAMESPACE).resource(event).create();
    } catch (KubernetesClientException e) {
      // An event is a courtesy: failing to record one must not fail the reconcile.
      LOG.warn(
          "could not record event {} on {}: {}",
          reason,
          about.getMetadata().getName(),
          e.getMessage());
    }
  }
}
