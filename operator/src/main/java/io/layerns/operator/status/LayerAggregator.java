package io.layerns.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerColdCopy;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerReference;
import io.layerns.api.v1alpha1.LayerStatus;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.VolumeLayer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Computes a Layer's status from the LayerStores that hold, own or use it: a pure function, so the
 * operator can compare the result with what is stored and write only when something changed.
 */
public final class LayerAggregator {
  public static final String AVAILABLE = "Available";
  public static final String REPLICATED = "Replicated";
  public static final String LOST = "Lost";

  private LayerAggregator() {}

  /** The same, for namespaces without a cold tier. */
  public static LayerStatus compute(
      String digest,
      Collection<LayerStore> stores,
      Map<String, Integer> replicasByNamespace,
      boolean hasSource,
      LayerStatus previous,
      Long generation,
      Instant now) {
    return compute(
        digest, stores, replicasByNamespace, Map.of(), hasSource, previous, generation, now);
  }

  /**
   * @param stores the stores whose spec or status names {@code digest}
   * @param replicasByNamespace spec.replicas of each LayerNamespace
   * @param coldReplicasByNamespace spec.coldTier.replicas of each LayerNamespace with a cold tier
   * @param hasSource whether the layer can be fetched again from a registry
   * @param previous the stored status, for condition transition times
   */
  public static LayerStatus compute(
      String digest,
      Collection<LayerStore> stores,
      Map<String, Integer> replicasByNamespace,
      Map<String, Integer> coldReplicasByNamespace,
      boolean hasSource,
      LayerStatus previous,
      Long generation,
      Instant now) {
    LayerColdCopy coldCopy = null;
    String coldNamespace = null;
    List<LayerHolder> holders = new ArrayList<>();
    SortedSet<String> owners = new TreeSet<>();
    SortedMap<String, Integer> volumesByReader = new TreeMap<>();
    SortedSet<String> namespaces = new TreeSet<>();
    SortedMap<String, Integer> presentByNamespace = new TreeMap<>();
    long size = 0;

    for (LayerStore store : stores) {
      String node = StoreViews.node(store);
      String ns = StoreViews.namespace(store);
      boolean involved = false;
      for (HeldLayer held : StoreViews.held(store)) {
        if (digest.equals(held.digest())) {
          holders.add(new LayerHolder(node, held.state()));
          if (held.size() != null) {
            size = Math.max(size, held.size());
          }
          if (held.state() == CopyState.Present && ns != null) {
            presentByNamespace.merge(ns, 1, Integer::sum);
          }
          involved = true;
        }
      }
      if (coldCopy == null && StoreViews.keepsColdCopy(store, digest)) {
        // The keeper the operator named, and only its own report: another node's word is not
        // taken for the bucket copy.
        coldNamespace = ns;
        coldCopy =
            StoreViews.keptColdCopy(store, digest)
                .map(c -> new LayerColdCopy(c.state(), node, c.checkedAt(), c.message()))
                .orElse(new LayerColdCopy(null, node, null, null));
      }
      for (var assigned : StoreViews.assigned(store)) {
        if (digest.equals(assigned.digest())) {
          // Copies kept for a while (in use, grace period) are assigned too; owners are chosen.
          if (assigned.reason() == null || "Owner".equals(assigned.reason())) {
            owners.add(node);
          }
          involved = true;
        }
      }
      for (var volume : StoreViews.volumes(store)) {
        for (VolumeLayer vl : StoreViews.layersOf(volume)) {
          if (digest.equals(vl.digest())) {
            String readsFrom = vl.readsFrom() == null ? node : vl.readsFrom();
            volumesByReader.merge(node + "\u0000" + readsFrom, 1, Integer::sum);
            involved = true;
          }
        }
      }
      if (involved && ns != null) {
        namespaces.add(ns);
      }
    }

    if (namespaces.isEmpty() && hasSource && previous != null && previous.namespaces() != null) {
      // Its last holder went with its store: the namespaces that held it stay named, so that
      // their placement fetches it again from its source.
      previous.namespaces().stream()
          .filter(replicasByNamespace::containsKey)
          .forEach(namespaces::add);
    }
    holders.sort(Comparator.comparing(LayerHolder::node));
    int copies = (int) holders.stream().filter(h -> h.state() == CopyState.Present).count();
    boolean fetching = holders.stream().anyMatch(h -> h.state() == CopyState.Fetching);
    List<LayerReference> references = new ArrayList<>();
    volumesByReader.forEach(
        (key, count) -> {
          String[] parts = key.split("\u0000", 2);
          references.add(new LayerReference(parts[0], parts[1], count));
        });
    int referenceCount = references.stream().mapToInt(LayerReference::volumes).sum();

    boolean coldConfirmed = coldCopy != null && coldCopy.state() == ColdCopyState.Confirmed;
    List<String> underReplicated = new ArrayList<>();
    for (String ns : namespaces) {
      // A confirmed bucket copy lets its namespace keep its cold replicas on nodes instead.
      int want =
          coldConfirmed && ns.equals(coldNamespace) && coldReplicasByNamespace.containsKey(ns)
              ? coldReplicasByNamespace.get(ns)
              : replicasByNamespace.getOrDefault(ns, 2);
      int have = presentByNamespace.getOrDefault(ns, 0);
      if (have < want) {
        underReplicated.add(have + " of " + want + " copies in " + ns);
      }
    }
    // A confirmed bucket copy can be fetched again: the layer is recoverable, not lost.
    boolean lost = copies == 0 && !fetching && !hasSource && !coldConfirmed;
    boolean available = copies > 0 || coldConfirmed;

    List<Condition> conditions = previous == null ? null : previous.conditions();
    conditions =
        Conditions.set(
            conditions,
            AVAILABLE,
            available,
            copies > 0 ? "PresentCopy" : coldConfirmed ? "BucketCopy" : "NoPresentCopy",
            copies > 0
                ? copies + " Present " + (copies == 1 ? "copy" : "copies") + "."
                : coldConfirmed
                    ? "Only the cold tier bucket holds it; a node fetches it from there when a"
                        + " volume needs it."
                    : "No node holds a Present copy" + (fetching ? "; a fetch is under way." : "."),
            generation,
            now);
    conditions =
        Conditions.set(
            conditions,
            REPLICATED,
            underReplicated.isEmpty(),
            underReplicated.isEmpty() ? "EnoughCopies" : "UnderReplicated",
            underReplicated.isEmpty()
                ? "Every namespace that uses the layer keeps its replicas."
                : "Under-replicated: " + String.join("; ", underReplicated) + ".",
            generation,
            now);
    conditions =
        Conditions.set(
            conditions,
            LOST,
            lost,
            lost
                ? "NoCopyNoSource"
                : (copies > 0 || fetching
                    ? "CopyExists"
                    : coldConfirmed ? "BucketCopyConfirmed" : "SourceKnown"),
            lost
                ? "No node holds the layer and no registry source is known; pods that need it"
                    + " cannot start until an image containing it is imported again."
                : "The layer can be served or fetched again.",
            generation,
            now);
    boolean ready = available && underReplicated.isEmpty();
    conditions =
        Conditions.set(
            conditions,
            Conditions.READY,
            ready,
            ready ? "Ready" : (!available ? "NoPresentCopy" : "UnderReplicated"),
            ready ? "Available and replicated." : "See the Available and Replicated conditions.",
            generation,
            now);

    return new LayerStatus(
        generation,
        List.copyOf(namespaces),
        ByteSizes.format(size),
        holders,
        copies,
        List.copyOf(owners),
        owners.isEmpty() ? "<none>" : String.join(",", owners),
        references,
        referenceCount,
        conditions,
        copies == 0
            ? "<none>"
            : String.join(
                ",",
                holders.stream()
                    .filter(h -> h.state() == CopyState.Present)
                    .map(LayerHolder::node)
                    .toList()),
        coldCopy);
  }
}
