package io.layerns.operator.placement;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * The placement function: from observed state, which nodes own each layer, what each node must
 * fetch and from whom, and which copies may go. Pure: no clock, no randomness, no API calls.
 */
public final class Placement {
  /** Peers named per fetch: enough to survive a busy or vanished peer, few enough to stay small. */
  public static final int MAX_PEERS = 3;

  private Placement() {}

  /** Decides every layer of the cluster. */
  public static Decision decide(ClusterState state) {
    return decideLayers(state.membership(), state.layers());
  }

  /**
   * Decides only the given layers of the cluster, for example those one node's store change
   * touched. Equals {@link #decide} restricted to them while no node runs out of room.
   */
  public static Decision decideLayers(ClusterState state, Set<String> digests) {
    List<LayerState> chosen =
        state.layers().stream().filter(layer -> digests.contains(layer.digest())).toList();
    return decideLayers(state.membership(), chosen);
  }

  /**
   * Decides the given layers against an already indexed membership: O(these layers' holders), plus
   * one pass over the members for each layer that needs a new owner. The operator keeps the
   * previous decision for the other layers; the nodes whose spec may change are those in the old
   * and new assignments of these layers.
   */
  public static Decision decideLayers(MemberIndex membership, Collection<LayerState> layers) {
    List<LayerState> sorted = sortedByDigest(layers);
    var placer = new LayerPlacement(membership);
    @SuppressWarnings("unchecked")
    List<Assignment>[] perMember = new List[membership.size()];
    var decisions = new ArrayList<LayerDecision>(sorted.size());
    var drops = new ArrayList<Drop>();
    var lost = new ArrayList<String>();
    var noCapacity = new ArrayList<NoCapacity>();
    int underReplicated = 0;
    for (LayerState layer : sorted) {
      LayerDecision decision = placer.decide(layer);
      decisions.add(decision);
      for (Assignment assignment : decision.assignments()) {
        int member = membership.indexOf(assignment.node());
        if (perMember[member] == null) {
          perMember[member] = new ArrayList<>();
        }
        perMember[member].add(assignment);
      }
      drops.addAll(decision.drops());
      switch (decision.health()) {
        case Lost -> lost.add(layer.digest());
        case NoCapacity -> {
          underReplicated++;
          noCapacity.add(
              new NoCapacity(
                  layer.digest(),
                  layer.sizeBytes(),
                  decision.owners().size(),
                  decision.wantedCopies(),
                  decision.message()));
        }
        case UnderReplicated -> underReplicated++;
        case Replicated -> {}
      }
    }
    var assignments = new TreeMap<String, List<Assignment>>();
    for (int member = 0; member < perMember.length; member++) {
      if (perMember[member] != null) {
        assignments.put(membership.member(member).name(), perMember[member]);
      }
    }
    return new Decision(decisions, assignments, drops, lost, noCapacity, underReplicated);
  }

  // Capacity is reserved in digest order, so the order must not depend on how layers were listed.
  private static List<LayerState> sortedByDigest(Collection<LayerState> layers) {
    var sorted = new ArrayList<>(layers);
    sorted.sort(Comparator.comparing(LayerState::digest));
    for (int i = 1; i < sorted.size(); i++) {
      if (sorted.get(i).digest().equals(sorted.get(i - 1).digest())) {
        throw new IllegalArgumentException("layer " + sorted.get(i).digest() + " is listed twice");
      }
    }
    return sorted;
  }
}
