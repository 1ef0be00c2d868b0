package io.layerns.operator.reconciler;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
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
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.api.v1alpha1.LayerSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.membership.Membership;
import io.layerns.operator.placement.ClusterState;
import io.layerns.operator.placement.Decision;
import io.layerns.operator.placement.Placement;
import io.layerns.operator.status.NamespaceAggregator;
import io.layerns.operator.status.StoreViews;
import io.layerns.operator.wakeup.TrimmedItemStore;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a LayerNamespace true: which nodes are members, a LayerStore for each member (owned by its
 * Node, so it goes when the node goes), a Layer for every digest the members hold, and the
 * namespace's status figures.
 */
@ControllerConfiguration(name = "layernamespace")
public class LayerNamespaceReconciler implements Reconciler<LayerNamespace> {
  private static final Logger LOG = LoggerFactory.getLogger(LayerNamespaceReconciler.class);

  private static final String NO_CAPACITY = "NoCapacity";

  private final KubernetesClient client;
  private final EventRecorder events;
  private final Clock clock;

  public LayerNamespaceReconciler(KubernetesClient client, EventRecorder events, Clock clock) {
    this.client = client;
    this.events = events;
    this.clock = clock;
  }

  @Override
  public UpdateControl<LayerNamespace> reconcile(LayerNamespace ns, Context<LayerNamespace> ctx) {
    // Observe
    List<LayerNamespace> namespaces = ctx.getPrimaryCache().list().toList();
    List<Node> nodes = informer(ctx, Node.class).list().toList();
    Map<String, LayerStore> stores = storesByName(ctx);
    Membership.Result membership = Membership.compute(selectors(namespaces), labels(nodes));
    SortedSet<String> members = membership.membersOf(name(ns));

    Map<String, Node> nodeByName = new TreeMap<>();
    nodes.forEach(n -> nodeByName.put(n.getMetadata().getName(), n));
    Map<String, LayerSpec> layerSpecs = new HashMap<>();
    Set<String> named = new HashSet<>();
    informer(ctx, Layer.class)
        .list()
        .forEach(
            l -> {
              layerSpecs.put(l.getSpec().digest(), l.getSpec());
              if (l.getStatus() != null
                  && l.getStatus().namespaces() != null
                  && l.getStatus().namespaces().contains(name(ns))) {
                named.add(l.getSpec().digest());
              }
            });

    // Decide: who keeps which copy (a pure function of what was observed).
    ClusterState observed =
        NamespacePlacement.observe(
            ns.getSpec(), members, nodeByName, stores, layerSpecs, named, clock.instant());
    Decision decision = Placement.decide(observed);

    // Act: one store per member with its assignments, none for nodes that left, a Layer per digest.
    applyStores(ns, members, nodeByName, stores, observed, decision, layerSpecs);
    removeStoresOfFormerMembers(ns, members, stores);
    List<LayerStore> memberStores =
        members.stream().map(stores::get).filter(Objects::nonNull).toList();
    ensureLayers(memberStores, informer(ctx, Layer.class));

    // Report
    LayerNamespaceStatus previous = ns.getStatus();
    recordMembershipEvents(ns, previous, members);
    LayerNamespaceStatus status =
        NamespaceAggregator.compute(
            new NamespaceAggregator.Input(
                ns.getMetadata().getGeneration(),
                replicas(ns.getSpec()),
                members,
                membership.conflictsOf(name(ns)),
                nodeReadiness(nodes),
                memberStores,
                digestsWithSource(layerSpecs),
                previous,
                ns.getSpec() == null ? null : ns.getSpec().coldTier()),
            clock.instant());
    status = withCapacityCondition(status, decision, ns.getMetadata().getGeneration());
    Optional<Duration> recheck = NamespacePlacement.nextTimedChange(observed, decision);
    UpdateControl<LayerNamespace> control;
    if (status.equals(previous)) {
      control = UpdateControl.noUpdate();
    } else {
      ns.setStatus(status);
      control = UpdateControl.patchStatus(ns);
    }
    recheck.ifPresent(control::rescheduleAfter);
    return control;
  }

  private LayerNamespaceStatus withCapacityCondition(
      LayerNamespaceStatus status, Decision decision, Long generation) {
    boolean short_ = !decision.noCapacity().isEmpty();
    var conditions =
        Conditions.set(
            status.conditions(),
            NO_CAPACITY,
            short_,
            short_ ? "NoNodeHasRoom" : "EnoughRoom",
            short_
                ? decision.noCapacity().size()
                    + " layers lack owners because no member has room, for example: "
                    + decision.noCapacity().getFirst().message()
                : "Every layer found room on enough nodes.",
            generation,
            clock.instant());
    return status.withConditions(conditions);
  }

  @Override
  public List<EventSource<?, LayerNamespace>> prepareEventSources(
      EventSourceContext<LayerNamespace> ctx) {
    // Membership depends on every namespace's selector, so any node or store change may concern
    // any namespace; there are few namespaces, so each is re-examined.
    var nodes =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Node.class, LayerNamespace.class)
                .withItemStore(TrimmedItemStore.withoutManagedFields())
                .withSecondaryToPrimaryMapper(n -> allNamespaces(ctx))
                .build(),
            ctx);
    var stores =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(LayerStore.class, LayerNamespace.class)
                .withItemStore(TrimmedItemStore.withoutManagedFields())
                .withSecondaryToPrimaryMapper(s -> allNamespaces(ctx))
                .build(),
            ctx);
    // Layers are read for their spec and status.namespaces only (the cache keeps nothing else);
    // their changes need no namespace reconcile.
    var layers =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Layer.class, LayerNamespace.class)
                .withItemStore(TrimmedItemStore.layerSpecsAndNamespaces())
                .withSecondaryToPrimaryMapper(l -> Set.of())
                .build(),
            ctx);
    // A selector change in one namespace can free or claim nodes of every other one.
    var siblings =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(LayerNamespace.class, LayerNamespace.class)
                .withName("sibling-namespaces")
                .withSecondaryToPrimaryMapper(n -> allNamespaces(ctx))
                .build(),
            ctx);
    return List.of(nodes, stores, layers, siblings);
  }

  private static Set<ResourceID> allNamespaces(EventSourceContext<LayerNamespace> ctx) {
    return ctx.getPrimaryCache().list().map(ResourceID::fromResource).collect(Collectors.toSet());
  }

  @SuppressWarnings("unchecked")
  private static <R extends io.fabric8.kubernetes.api.model.HasMetadata>
      InformerEventSource<R, LayerNamespace> informer(Context<LayerNamespace> ctx, Class<R> type) {
    return (InformerEventSource<R, LayerNamespace>)
        ctx.eventSourceRetriever().getEventSourceFor(type);
  }

  private static Map<String, LayerStore> storesByName(Context<LayerNamespace> ctx) {
    Map<String, LayerStore> out = new TreeMap<>();
    informer(ctx, LayerStore.class).list().forEach(s -> out.put(s.getMetadata().getName(), s));
    return out;
  }

  private void applyStores(
      LayerNamespace ns,
      SortedSet<String> members,
      Map<String, Node> nodeByName,
      Map<String, LayerStore> stores,
      ClusterState observed,
      Decision decision,
      Map<String, LayerSpec> layerSpecs) {
    LayerNamespaceSpec spec = ns.getSpec();
    List<Runnable> writes = new ArrayList<>();
    for (String member : members) {
      LayerStore existing = stores.get(member);
      List<AssignedLayer> layers = NamespacePlacement.assignedLayers(decision, member, layerSpecs);
      LayerStoreSpec wanted =
          new LayerStoreSpec(
              member,
              name(ns),
              transport(spec),
              (int) NamespacePlacement.policy(spec).evictionGrace().toSeconds(),
              layers.isEmpty() ? null : layers,
              NamespacePlacement.peersOf(layers, stores),
              NamespacePlacement.preloadsFor(
                  member, spec == null ? null : spec.preloadImages(), observed),
              spec == null ? null : spec.coldTier());
      if (existing != null && wanted.equals(existing.getSpec())) {
        continue;
      }
      Node node = nodeByName.get(member);
      LayerStore store = new LayerStore();
      store.setMetadata(
          new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
              .withName(member)
              .addToLabels(CrdConstants.LABEL_NAMESPACE, name(ns))
              .addToLabels(CrdConstants.LABEL_NODE, member)
              .withOwnerReferences(
                  new OwnerReferenceBuilder()
                      .withApiVersion("v1")
                      .withKind("Node")
                      .withName(member)
                      .withUid(node.getMetadata().getUid())
                      .build())
              .build());
      store.setSpec(wanted);
      writes.add(
          () -> {
            client
                .resource(store)
                .fieldManager(CrdConstants.OPERATOR_MANAGER)
                .forceConflicts()
                .serverSideApply();
            LOG.info(
                "{} LayerStore {} for namespace {}: {} layers assigned",
                existing == null ? "created" : "updated",
                member,
                name(ns),
                layers.size());
          });
    }
    ParallelWrites.run(writes);
  }

  private void removeStoresOfFormerMembers(
      LayerNamespace ns, SortedSet<String> members, Map<String, LayerStore> stores) {
    for (LayerStore store : stores.values()) {
      if (name(ns).equals(StoreViews.namespace(store))
          && !members.contains(store.getMetadata().getName())) {
        client.resource(store).delete();
        LOG.info(
            "deleted LayerStore {}: its node left namespace {}",
            store.getMetadata().getName(),
            name(ns));
      }
    }
  }

  /** Creates the Layer of each digest the members hold, and adds sources as they appear. */
  private void ensureLayers(
      List<LayerStore> memberStores, InformerEventSource<Layer, LayerNamespace> layers) {
    Map<String, LayerSpec> wanted = new TreeMap<>();
    for (LayerStore store : memberStores) {
      for (HeldLayer held : StoreViews.held(store)) {
        LayerSpec seen = wanted.get(held.digest());
        Set<String> sources = new TreeSet<>();
        if (seen != null && seen.sources() != null) {
          sources.addAll(seen.sources());
        }
        if (held.source() != null) {
          sources.add(held.source());
        }
        wanted.put(
            held.digest(),
            new LayerSpec(
                held.digest(),
                held.size(),
                null,
                held.mediaType(),
                sources.isEmpty() ? null : List.copyOf(sources)));
      }
    }
    List<Runnable> writes = new ArrayList<>();
    for (LayerSpec spec : wanted.values()) {
      String name = CrdConstants.layerName(spec.digest());
      Layer existing = layers.get(new ResourceID(name)).orElse(null);
      LayerSpec merged = existing == null ? spec : mergeSources(existing.getSpec(), spec);
      if (existing != null && merged.equals(existing.getSpec())) {
        continue;
      }
      Layer layer = new Layer();
      layer.setMetadata(
          new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).build());
      layer.setSpec(merged);
      writes.add(
          () ->
              client
                  .resource(layer)
                  .fieldManager(CrdConstants.OPERATOR_MANAGER)
                  .forceConflicts()
                  .serverSideApply());
    }
    ParallelWrites.run(writes);
  }

  private static LayerSpec mergeSources(LayerSpec existing, LayerSpec seen) {
    if (existing == null) {
      return seen;
    }
    Set<String> sources = new TreeSet<>();
    if (existing.sources() != null) {
      sources.addAll(existing.sources());
    }
    if (seen.sources() != null) {
      sources.addAll(seen.sources());
    }
    return new LayerSpec(
        existing.digest(),
        existing.size() != null ? existing.size() : seen.size(),
        existing.unpackedSize(),
        existing.mediaType() != null ? existing.mediaType() : seen.mediaType(),
        sources.isEmpty() ? null : List.copyOf(sources));
  }

  private void recordMembershipEvents(
      LayerNamespace ns, LayerNamespaceStatus previous, SortedSet<String> members) {
    Set<String> before =
        previous == null || previous.nodes() == null ? Set.of() : new HashSet<>(previous.nodes());
    for (String node : members) {
      if (!before.contains(node)) {
        events.normal(ns, "NodeJoined", "Node " + node + " joined the namespace.");
      }
    }
    for (String node : before) {
      if (!members.contains(node)) {
        events.normal(
            ns, "NodeLeft", "Node " + node + " left the namespace; its layers are re-replicated.");
      }
    }
  }

  /** Digests that can be fetched again from a registry, from the Layer specs already read. */
  private static Set<String> digestsWithSource(Map<String, LayerSpec> layerSpecs) {
    Set<String> out = new HashSet<>();
    layerSpecs.forEach(
        (digest, spec) -> {
          if (spec.sources() != null && !spec.sources().isEmpty()) {
            out.add(digest);
          }
        });
    return out;
  }

  private static java.util.function.Predicate<String> nodeReadiness(List<Node> nodes) {
    Set<String> ready = new HashSet<>();
    for (Node n : nodes) {
      if (n.getStatus() != null
          && n.getStatus().getConditions() != null
          && n.getStatus().getConditions().stream()
              .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))) {
        ready.add(n.getMetadata().getName());
      }
    }
    return ready::contains;
  }

  private static List<Membership.Selector> selectors(List<LayerNamespace> namespaces) {
    List<Membership.Selector> out = new ArrayList<>();
    for (LayerNamespace ns : namespaces) {
      out.add(
          new Membership.Selector(
              name(ns), ns.getSpec() == null ? null : ns.getSpec().nodeSelector()));
    }
    return out;
  }

  private static List<Membership.NodeLabels> labels(List<Node> nodes) {
    return nodes.stream()
        .map(n -> new Membership.NodeLabels(n.getMetadata().getName(), n.getMetadata().getLabels()))
        .toList();
  }

  static int replicas(LayerNamespaceSpec spec) {
    return spec == null || spec.replicas() == null ? 2 : spec.replicas();
  }

  private static Transport transport(LayerNamespaceSpec spec) {
    return spec == null || spec.transport() == null ? Transport.Sshfs : spec.transport();
  }

  private static String name(LayerNamespace ns) {
    return ns.getMetadata().getName();
  }
}
