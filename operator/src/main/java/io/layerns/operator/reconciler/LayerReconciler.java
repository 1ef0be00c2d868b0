package io.layerns.operator.reconciler;

import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.layerns.api.events.EventRecorder;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerColdCopy;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerStatus;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.operator.status.LayerAggregator;
import io.layerns.operator.status.StoreViews;
import io.layerns.operator.wakeup.LayerWakeups;
import io.layerns.operator.wakeup.TrimmedItemStore;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps each Layer's status true from the stores that hold, own or use it. A change to one node's
 * store wakes only the Layers whose digests it changed (held, assigned or read by a volume), and a
 * status is written only when it changed, so a store update costs O(changed layers) reconciles and
 * writes.
 */
@ControllerConfiguration(name = "layer")
public class LayerReconciler implements Reconciler<Layer> {
  private static final Logger LOG = LoggerFactory.getLogger(LayerReconciler.class);
  private static final String BY_DIGEST = "byDigest";

  private final EventRecorder events;
  private final Clock clock;
  private final Duration cleanupGrace;

  /** Which Layers a store or namespace event wakes; made with the event sources. */
  private final java.util.concurrent.atomic.AtomicReference<LayerWakeups> wakeups =
      new java.util.concurrent.atomic.AtomicReference<>();

  public LayerReconciler(EventRecorder events, Clock clock, Duration cleanupGrace) {
    this.events = events;
    this.clock = clock;
    this.cleanupGrace = cleanupGrace;
  }

  @Override
  public UpdateControl<Layer> reconcile(Layer layer, Context<Layer> ctx) {
    String digest = layer.getSpec().digest();
    List<LayerStore> stores = stores(ctx).byIndex(BY_DIGEST, digest);
    Map<String, Integer> replicas = new HashMap<>();
    Map<String, Integer> coldReplicas = new HashMap<>();
    namespaces(ctx)
        .list()
        .forEach(
            ns -> {
              replicas.put(
                  ns.getMetadata().getName(), LayerNamespaceReconciler.replicas(ns.getSpec()));
              if (ns.getSpec() != null && ns.getSpec().coldTier() != null) {
                coldReplicas.put(
                    ns.getMetadata().getName(), ns.getSpec().coldTier().replicasOrDefault());
              }
            });
    boolean hasSource = layer.getSpec().sources() != null && !layer.getSpec().sources().isEmpty();
    Instant now = clock.instant();
    LayerStatus previous = layer.getStatus();
    LayerStatus status =
        LayerAggregator.compute(
            digest,
            stores,
            replicas,
            coldReplicas,
            hasSource,
            previous,
            layer.getMetadata().getGeneration(),
            now);

    if (unused(status) && !hasSource) {
      Duration orphaned =
          Conditions.since(status.conditions(), LayerAggregator.AVAILABLE)
              .map(since -> Duration.between(since, now))
              .orElse(Duration.ZERO);
      if (orphaned.compareTo(cleanupGrace) >= 0) {
        LOG.info(
            "deleting Layer {}: no holder, owner or user for {}",
            layer.getMetadata().getName(),
            orphaned);
        ctx.getClient().resource(layer).delete();
        wakeups.get().forget(digest);
        return UpdateControl.noUpdate();
      }
    }
    recordLoss(layer, previous, status);
    recordColdCopy(layer, previous, status);
    wakeups.get().statusNames(digest, status.namespaces());
    UpdateControl<Layer> control;
    if (status.equals(previous)) {
      control = UpdateControl.noUpdate();
    } else {
      layer.setStatus(status);
      control = UpdateControl.patchStatus(layer);
    }
    if (unused(status) && !hasSource) {
      control.rescheduleAfter(cleanupGrace.plusSeconds(1));
    }
    return control;
  }

  @Override
  public List<EventSource<?, Layer>> prepareEventSources(EventSourceContext<Layer> ctx) {
    // Set below: the mapper asks the same informer's cache whether a store still exists.
    var holder =
        new java.util.concurrent.atomic.AtomicReference<InformerEventSource<LayerStore, Layer>>();
    wakeups.set(
        new LayerWakeups(
            name -> holder.get() == null || holder.get().get(new ResourceID(name)).isPresent()));
    var stores =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(LayerStore.class, Layer.class)
                .withSecondaryToPrimaryMapper(s -> LayerWakeups.layers(wakeups.get().onStore(s)))
                .withItemStore(TrimmedItemStore.withoutManagedFields())
                .build(),
            ctx);
    holder.set(stores);
    stores.addIndexers(Map.of(BY_DIGEST, s -> List.copyOf(StoreViews.digests(s))));
    // A replicas change re-evaluates the Layers whose status names that namespace, from the
    // reverse index the reconciles keep (no scan of every Layer).
    var namespaces =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(LayerNamespace.class, Layer.class)
                // Only a spec change (replicas) matters to Layers; status writes would wake them
                // all.
                .withOnUpdateFilter(
                    (updated, previous) ->
                        !java.util.Objects.equals(
                            updated.getMetadata().getGeneration(),
                            previous.getMetadata().getGeneration()))
                .withSecondaryToPrimaryMapper(
                    ns ->
                        LayerWakeups.layers(wakeups.get().onNamespace(ns.getMetadata().getName())))
                .build(),
            ctx);
    return List.of(stores, namespaces);
  }

  private void recordLoss(Layer layer, LayerStatus previous, LayerStatus status) {
    boolean lostNow = Conditions.isTrue(status.conditions(), LayerAggregator.LOST);
    boolean lostBefore =
        previous != null && Conditions.isTrue(previous.conditions(), LayerAggregator.LOST);
    if (lostNow && !lostBefore) {
      events.warning(
          layer,
          "LayerLost",
          "No node holds layer " + layer.getSpec().digest() + " and no registry source is known.");
    }
  }

  /**
   * An event when the keeper's report of the bucket copy changes state: Normal once Confirmed,
   * Warning when Missing, Corrupt or Failed (the layer then keeps spec.replicas node copies).
   */
  private void recordColdCopy(Layer layer, LayerStatus previous, LayerStatus status) {
    LayerColdCopy now = status.coldCopy();
    if (now == null || now.state() == null) {
      return;
    }
    LayerColdCopy before = previous == null ? null : previous.coldCopy();
    if (before != null && before.state() == now.state()) {
      return;
    }
    String note =
        "Bucket copy of "
            + layer.getSpec().digest()
            + " is "
            + now.state()
            + " (checked by "
            + now.node()
            + (now.message() == null ? "" : ": " + now.message())
            + ")";
    if (now.state() == ColdCopyState.Confirmed) {
      events.normal(layer, "ColdCopyConfirmed", note + ".");
    } else {
      events.warning(
          layer,
          "ColdCopy" + now.state(),
          note + "; the layer keeps the namespace's replicas on nodes until it is Confirmed.");
    }
  }

  private static boolean unused(LayerStatus status) {
    // A layer with a cold keeper lives on in the bucket even when no node holds or owns it.
    return status.holders().isEmpty()
        && status.owners().isEmpty()
        && status.referenceCount() == 0
        && status.coldCopy() == null;
  }

  @SuppressWarnings("unchecked")
  private static InformerEventSource<LayerStore, Layer> stores(Context<Layer> ctx) {
    return (InformerEventSource<LayerStore, Layer>)
        ctx.eventSourceRetriever().getEventSourceFor(LayerStore.class);
  }

  @SuppressWarnings("unchecked")
  private static InformerEventSource<LayerNamespace, Layer> namespaces(Context<Layer> ctx) {
    return (InformerEventSource<LayerNamespace, Layer>)
        ctx.eventSourceRetriever().getEventSourceFor(LayerNamespace.class);
  }
}
