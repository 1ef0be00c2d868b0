package io.layerns.operator.wakeup;

import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.operator.status.StoreViews;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What of a LayerStore a Layer's status depends on, and which digests changed between two versions
 * of one store. A store event then wakes only the Layers whose status can change, not every digest
 * the store names (a node with 70 layers whose agent reports one new layer wakes one Layer, not
 * 70).
 */
public final class StoreChanges {
  private StoreChanges() {}

  /** One held copy as the aggregation reads it. */
  public record Held(CopyState state, long size) {}

  /**
   * The slim view of one store at one resourceVersion: the node and namespace, the copies held
   * (state, size), the assignments (owner or kept for another reason), and the published volumes'
   * reads per digest (whose copy, how many volumes). Digests and node names are interned: the same
   * digest is named by every store that holds it and by its Layer.
   */
  public record View(
      String version,
      String node,
      String namespace,
      Map<String, Held> held,
      Map<String, Boolean> assigned,
      Map<String, Map<String, Integer>> used) {

    public static View of(LayerStore store) {
      Map<String, Held> held = new HashMap<>();
      for (HeldLayer h : StoreViews.held(store)) {
        held.put(h.digest().intern(), new Held(h.state(), h.size() == null ? 0 : h.size()));
      }
      Map<String, Boolean> assigned = new HashMap<>();
      for (AssignedLayer a : StoreViews.assigned(store)) {
        // Only Owner entries (or none given) make the node an owner; others only involve it.
        assigned.put(a.digest().intern(), a.reason() == null || "Owner".equals(a.reason()));
      }
      Map<String, Map<String, Integer>> used = new HashMap<>();
      String node = StoreViews.node(store).intern();
      for (var volume : StoreViews.volumes(store)) {
        for (VolumeLayer vl : StoreViews.layersOf(volume)) {
          String from = vl.readsFrom() == null ? node : vl.readsFrom().intern();
          used.computeIfAbsent(vl.digest().intern(), d -> new HashMap<>())
              .merge(from, 1, Integer::sum);
        }
      }
      String ns = StoreViews.namespace(store);
      return new View(
          store.getMetadata().getResourceVersion(),
          node,
          ns == null ? null : ns.intern(),
          Map.copyOf(held),
          Map.copyOf(assigned),
          Map.copyOf(used));
    }

    /** Every digest the store holds, is assigned, or has a volume read. */
    public Set<String> digests() {
      Set<String> out = new HashSet<>(held.keySet());
      out.addAll(assigned.keySet());
      out.addAll(used.keySet());
      return out;
    }
  }

  /**
   * The digests whose Layer status can differ between {@code before} and {@code after} (either may
   * be null: a store first seen, or gone). A new node or namespace changes every digest.
   */
  public static Set<String> changed(View before, View after) {
    if (before == null && after == null) {
      return Set.of();
    }
    if (before == null) {
      return after.digests();
    }
    if (after == null) {
      return before.digests();
    }
    if (!Objects.equals(before.node(), after.node())
        || !Objects.equals(before.namespace(), after.namespace())) {
      Set<String> all = before.digests();
      all.addAll(after.digests());
      return all;
    }
    Set<String> out = new HashSet<>();
    differing(before.held(), after.held(), out);
    differing(before.assigned(), after.assigned(), out);
    differing(before.used(), after.used(), out);
    return out;
  }

  private static <V> void differing(Map<String, V> a, Map<String, V> b, Set<String> out) {
    a.forEach(
        (digest, v) -> {
          if (!Objects.equals(v, b.get(digest))) {
            out.add(digest);
          }
        });
    b.keySet()
        .forEach(
            digest -> {
              if (!a.containsKey(digest)) {
                out.add(digest);
              }
            });
  }
}
