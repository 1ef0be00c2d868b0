package io.layerns.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
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

  /**
   * @param stores the stores whose spec or status names {@code digest}
   * @param replicasByNamespace spec.replicas of each LayerNamespace
   * @param hasSource whether the layer can be fetched again from a registry
   * @param previous the stored status, for condition transition times
   */
  public static LayerStatus compute(
      String digest,
      Collection<LayerStore> stores,
      Map<String, Integer> replicasByNamespace,
      boolean hasSource,
      LayerStatus previous,
      Long generation,
      Instant now) {
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

    List<String> underReplicated = new ArrayList<>();
    for (String ns : namespaces) {
      int want = replicasByNamespace.getOrDefault(ns, 2);
      int have = presentByNamespace.getOrDefault(ns, 0);
      if (have < want) {
        underReplicated.add(have + " of " + want + " copies in " + ns);
      }
    }
    boolean lost = copies == 0 && !fetching && !hasSource;

    List<Condition> conditions = previous == null ? null : previous.conditions();
    conditions =
        Conditions.set(
            conditions,
            AVAILABLE,
            copies > 0,
            copies > 0 ? "PresentCopy" : "NoPresentCopy",
            copies > 0
                ? copies + " Present " + (copies == 1 ? "copy" : "copies") + "."
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
            lost ? "NoCopyNoSource" : (copies > 0 || fetching ? "CopyExists" : "SourceKnown"),
            lost
                ? "No node holds the layer and no registry source is known; pods that need it"
                    + " cannot start until an image containing it is imported again."
                : "The layer can be served or fetched again.",
            generation,
            now);
    boolean ready = copies > 0 && underReplicated.isEmpty();
    conditions =
        Conditions.set(
            conditions,
            Conditions.READY,
            ready,
            ready ? "Ready" : (copies == 0 ? "NoPresentCopy" : "UnderReplicated"),
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
        conditions);
  }
}
