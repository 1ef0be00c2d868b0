package io.layerns.operator.placement;

import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A placement decision: per layer its owners and copies, per node its LayerStore spec entries, and
 * the totals the LayerNamespace status reports.
 *
 * @param layers one decision per layer, sorted by digest
 * @param assignments per node (sorted by name), the layers it must keep or fetch, sorted by digest;
 *     a member that is absent must hold nothing
 * @param drops copies that may be deleted now, by digest then node
 * @param lost digests of layers no member holds and no source can restore
 * @param noCapacity layers short of owners because no member has room
 * @param underReplicated layers that are neither Replicated nor Lost
 */
public record Decision(
    List<LayerDecision> layers,
    SortedMap<String, List<Assignment>> assignments,
    List<Drop> drops,
    List<String> lost,
    List<NoCapacity> noCapacity,
    int underReplicated) {

  public Decision {
    layers = List.copyOf(layers);
    var copied = new TreeMap<String, List<Assignment>>();
    assignments.forEach((node, list) -> copied.put(node, List.copyOf(list)));
    assignments = Collections.unmodifiableSortedMap(copied);
    drops = List.copyOf(drops);
    lost = List.copyOf(lost);
    noCapacity = List.copyOf(noCapacity);
  }

  /** The spec entries of one node; empty when it must hold nothing. */
  public List<Assignment> assignmentsFor(String node) {
    return assignments.getOrDefault(node, List.of());
  }

  /** The decision for one layer, if this decision covered it. */
  public Optional<LayerDecision> layer(String digest) {
    int low = 0;
    int high = layers.size() - 1;
    while (low <= high) {
      int mid = (low + high) >>> 1;
      int cmp = layers.get(mid).digest().compareTo(digest);
      if (cmp == 0) {
        return Optional.of(layers.get(mid));
      } else if (cmp < 0) {
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return Optional.empty();
  }
}
