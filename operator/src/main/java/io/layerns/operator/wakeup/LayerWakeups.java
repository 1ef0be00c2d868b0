package io.layerns.operator.wakeup;

import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.LayerStore;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Decides which Layers an event wakes, from what it changed:
 *
 * <ul>
 *   <li>a LayerStore event wakes the Layers of the digests whose held state, assignment or volume
 *       reads differ from the store's previous version ({@link StoreChanges});
 *   <li>a LayerNamespace spec change wakes the Layers whose last computed status names that
 *       namespace, from a reverse index (digest to namespaces) the Layer reconciler keeps as it
 *       writes statuses, not from a scan of every Layer.
 * </ul>
 *
 * <p>JOSDK may call a mapper twice for one event (once for its own index), so a store's result is
 * kept with its resourceVersion and returned again for the same version.
 */
public final class LayerWakeups {
  private final Predicate<String> storeExists;

  /** Per store name: its last view and the digests that event changed. */
  private final Map<String, Seen> seen = new HashMap<>();

  /** Reverse index: namespace to the digests whose Layer status names it. */
  private final Map<String, Set<String>> digestsByNamespace = new HashMap<>();

  /** The namespaces each digest's status named at its last reconcile. */
  private final Map<String, List<String>> namespacesByDigest = new HashMap<>();

  /** Digests whose Layer has been reconciled since the operator started. */
  private final Set<String> reconciled = new HashSet<>();

  private record Seen(StoreChanges.View view, Set<String> changed) {}

  /**
   * @param storeExists whether the informer cache still has a store of that name; false while its
   *     delete event is handled
   */
  public LayerWakeups(Predicate<String> storeExists) {
    this.storeExists = storeExists;
  }

  /** The digests whose Layers a store event concerns. */
  public synchronized Set<String> onStore(LayerStore store) {
    String name = store.getMetadata().getName();
    Seen last = seen.get(name);
    if (!storeExists.test(name)) {
      // Deleted: every digest it named, as it was last seen and as the delete event shows it.
      seen.remove(name);
      Set<String> out = StoreChanges.View.of(store).digests();
      if (last != null) {
        out.addAll(last.view().digests());
      }
      return out;
    }
    String version = store.getMetadata().getResourceVersion();
    if (last != null && Objects.equals(last.view().version(), version)) {
      return last.changed();
    }
    StoreChanges.View now = StoreChanges.View.of(store);
    Set<String> changed = StoreChanges.changed(last == null ? null : last.view(), now);
    if (last == null) {
      // A store seen for the first time: a Layer not reconciled yet since the start will be by
      // its own first event, and reads this store then (the store informer syncs before the
      // Layer controller starts). Waking it again would double a restart's reconciles.
      changed.retainAll(reconciled);
    }
    changed = Set.copyOf(changed);
    seen.put(name, new Seen(now, changed));
    return changed;
  }

  /** Records the namespaces a digest's freshly computed status names. */
  public synchronized void statusNames(String digest, Collection<String> namespaces) {
    if (namespaces != null) {
      reconciled.add(digest.intern());
    }
    List<String> now = namespaces == null ? List.of() : List.copyOf(namespaces);

    List<String> before =
        now.isEmpty()
            ? namespacesByDigest.remove(digest)
            : namespacesByDigest.put(digest.intern(), now);
    if (before != null) {
      for (String ns : before) {
        if (!now.contains(ns)) {
          Set<String> digests = digestsByNamespace.get(ns);
          if (digests != null) {
            digests.remove(digest);
            if (digests.isEmpty()) {
              digestsByNamespace.remove(ns);
            }
          }
        }
      }
    }
    for (String ns : now) {
      digestsByNamespace.computeIfAbsent(ns.intern(), k -> new HashSet<>()).add(digest.intern());
    }
  }

  /** Forgets a digest whose Layer is gone. */
  public synchronized void forget(String digest) {
    statusNames(digest, null);
    reconciled.remove(digest);
  }

  /** The digests whose Layer status depends on this namespace. */
  public synchronized Set<String> onNamespace(String namespace) {
    return Set.copyOf(digestsByNamespace.getOrDefault(namespace, Set.of()));
  }

  /** The Layer name of each digest. */
  public static Set<io.javaoperatorsdk.operator.processing.event.ResourceID> layers(
      Collection<String> digests) {
    Set<io.javaoperatorsdk.operator.processing.event.ResourceID> out = new HashSet<>();
    digests.forEach(
        d ->
            out.add(
                new io.javaoperatorsdk.operator.processing.event.ResourceID(
                    CrdConstants.layerName(d))));
    return out;
  }
}
