package io.layerns.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.layerns.api.status.ByteSizes;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.api.v1alpha1.LayerStore;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;

/** Computes a LayerNamespace's status figures from its member nodes' stores: a pure function. */
public final class NamespaceAggregator {
  public static final String NODES_CONFLICT = "NodesConflict";
  public static final String REPLICATED = "Replicated";

  /** The Ready reason while a member cannot import an image of preloadImages. */
  public static final String PRELOADS_FAILED = "PreloadsFailed";

  /** How many failing nodes the Ready message names; the rest are counted. */
  private static final int FAILING_NODES_NAMED = 3;

  private NamespaceAggregator() {}

  /** How many bucket copies, failing members and bad copies the ColdTierReady message names. */
  private static final int COLD_NAMED = 3;

  /**
   * What the aggregation needs to know about the namespace and its members.
   *
   * @param coldTier the namespace's cold tier, or null
   */
  public record Input(
      Long generation,
      int replicas,
      SortedSet<String> members,
      List<String> conflictingNodes,
      Predicate<String> nodeReady,
      Collection<LayerStore> memberStores,
      Set<String> digestsWithSource,
      LayerNamespaceStatus previous,
      ColdTier coldTier) {

    /** A namespace without a cold tier. */
    public Input(
        Long generation,
        int replicas,
        SortedSet<String> members,
        List<String> conflictingNodes,
        Predicate<String> nodeReady,
        Collection<LayerStore> memberStores,
        Set<String> digestsWithSource,
        LayerNamespaceStatus previous) {
      this(
          generation,
          replicas,
          members,
          conflictingNodes,
          nodeReady,
          memberStores,
          digestsWithSource,
          previous,
          null);
    }
  }

  public static LayerNamespaceStatus compute(Input in, Instant now) {
    Map<String, Long> sizeOf = new HashMap<>();
    Map<String, Integer> present = new HashMap<>();
    Set<String> fetching = new HashSet<>();
    SortedSet<String> known = new TreeSet<>();
    long stored = 0;
    long naive = 0;
    int ready = 0;

    // Per digest, the report of its cold keeper (the member the operator marked), and only that.
    Map<String, ColdCopy> keptCold = new TreeMap<>();
    Map<String, Long> assignedSize = new HashMap<>();
    for (LayerStore store : in.memberStores()) {
      Set<String> keeps = new HashSet<>();
      for (AssignedLayer a : StoreViews.assigned(store)) {
        if (a.keepsColdCopy()) {
          keeps.add(a.digest());
        }
        if (a.size() != null) {
          assignedSize.merge(a.digest(), a.size(), Math::max);
        }
      }
      for (ColdCopy cold : StoreViews.coldCopies(store)) {
        if (keeps.contains(cold.digest()) && cold.state() != null) {
          keptCold.putIfAbsent(cold.digest(), cold);
        }
      }
    }
    for (LayerStore store : in.memberStores()) {
      for (HeldLayer held : StoreViews.held(store)) {
        long size = held.size() == null ? 0 : held.size();
        sizeOf.merge(held.digest(), size, Math::max);
        if (held.state() == CopyState.Present) {
          present.merge(held.digest(), 1, Integer::sum);
          stored += size;
        } else if (held.state() == CopyState.Fetching) {
          fetching.add(held.digest());
        }
      }
      known.addAll(StoreViews.digests(store));
    }
    long fromPeers = 0;
    for (LayerStore store : in.memberStores()) {
      // What this node would keep without layerns: its own copy of everything it holds or reads,
      // and of what it pulled or read for itself and let go (while a member still stores it).
      Set<String> own = new HashSet<>();
      StoreViews.held(store).stream()
          .filter(h -> h.state() == CopyState.Present)
          .forEach(h -> own.add(h.digest()));
      StoreViews.usedDigests(store).forEach(own::add);
      StoreViews.released(store).stream().filter(present::containsKey).forEach(own::add);
      naive += own.stream().mapToLong(d -> sizeOf.getOrDefault(d, 0L)).sum();
      fromPeers += StoreViews.fetchedFromPeers(store);
      if (in.nodeReady().test(StoreViews.node(store)) && StoreViews.agentReady(store)) {
        ready++;
      }
    }
    long unique = present.keySet().stream().mapToLong(d -> sizeOf.getOrDefault(d, 0L)).sum();
    int underReplicated = 0;
    int lost = 0;
    int coldLayers = 0;
    long coldBytes = 0;
    for (String digest : known) {
      int copies = present.getOrDefault(digest, 0);
      ColdCopy cold = in.coldTier() == null ? null : keptCold.get(digest);
      boolean coldConfirmed = cold != null && cold.state() == ColdCopyState.Confirmed;
      if (coldConfirmed) {
        coldLayers++;
        coldBytes += sizeOf.getOrDefault(digest, assignedSize.getOrDefault(digest, 0L));
      }
      int wanted = coldConfirmed ? in.coldTier().replicasOrDefault() : in.replicas();
      if (copies < wanted) {
        underReplicated++;
      }
      if (copies == 0
          && !fetching.contains(digest)
          && !in.digestsWithSource().contains(digest)
          && !coldConfirmed) {
        lost++;
      }
    }

    int nodeCount = in.members().size();
    List<Condition> conditions = in.previous() == null ? null : in.previous().conditions();
    boolean conflict = !in.conflictingNodes().isEmpty();
    conditions =
        Conditions.set(
            conditions,
            NODES_CONFLICT,
            conflict,
            conflict ? "SelectedByOtherNamespace" : "NoConflict",
            conflict
                ? "Nodes selected by more than one LayerNamespace belong to none until the"
                    + " selectors are fixed: "
                    + String.join(", ", in.conflictingNodes())
                    + "."
                : "Every selected node belongs to this namespace only.",
            in.generation(),
            now);
    conditions =
        Conditions.set(
            conditions,
            REPLICATED,
            underReplicated == 0,
            underReplicated == 0 ? "EnoughCopies" : "UnderReplicated",
            underReplicated == 0
                ? "Every layer has " + copiesWanted(in) + " Present copies or more."
                : underReplicated
                    + " layers have fewer than "
                    + copiesWanted(in)
                    + " Present copies.",
            in.generation(),
            now);
    if (in.coldTier() != null) {
      conditions = withColdTierReady(conditions, in, keptCold, known, now);
    } else {
      conditions = withoutCondition(conditions, Conditions.COLD_TIER_READY);
    }
    // Each member whose preloads fail, with its own condition's message (images and errors).
    Map<String, String> failedPreloads = new java.util.TreeMap<>();
    for (LayerStore store : in.memberStores()) {
      StoreViews.failedPreloads(store)
          .ifPresent(m -> failedPreloads.put(StoreViews.node(store), m));
    }
    String notReadyReason = readyReason(nodeCount, ready, lost, conflict, failedPreloads);
    conditions =
        Conditions.set(
            conditions,
            Conditions.READY,
            notReadyReason == null,
            notReadyReason == null ? "AllNodesReady" : notReadyReason,
            readyMessage(notReadyReason, nodeCount, ready, lost, failedPreloads),
            in.generation(),
            now);

    return new LayerNamespaceStatus(
        in.generation(),
        List.copyOf(in.members()),
        nodeCount,
        ready,
        ready + "/" + nodeCount,
        known.size(),
        stored,
        unique,
        ByteSizes.format(stored),
        ByteSizes.format(unique),
        ByteSizes.ratio(naive, stored),
        underReplicated,
        lost,
        conditions,
        naive,
        ByteSizes.format(naive),
        naive - stored,
        ByteSizes.format(naive - stored),
        fromPeers,
        ByteSizes.format(fromPeers),
        in.coldTier() == null ? null : coldLayers,
        in.coldTier() == null ? null : coldBytes,
        in.coldTier() == null ? null : ByteSizes.format(coldBytes));
  }

  private static String copiesWanted(Input in) {
    return in.coldTier() == null
        ? String.valueOf(in.replicas())
        : in.replicas()
            + " (or coldTier.replicas "
            + in.coldTier().replicasOrDefault()
            + " for layers with a Confirmed bucket copy)";
  }

  /**
   * True while every member reports it reaches the bucket and no keeper reports a bucket copy
   * Missing, Corrupt or Failed; a copy not reported yet is still being written and counts as
   * neither.
   */
  private static List<Condition> withColdTierReady(
      List<Condition> conditions,
      Input in,
      Map<String, ColdCopy> keptCold,
      Set<String> known,
      Instant now) {
    Map<String, String> failing = new TreeMap<>();
    for (LayerStore store : in.memberStores()) {
      var reported =
          store.getStatus() == null
              ? java.util.Optional.<Condition>empty()
              : Conditions.find(store.getStatus().conditions(), Conditions.COLD_TIER_READY);
      if (reported.isEmpty()) {
        failing.put(StoreViews.node(store), "its agent does not report ColdTierReady");
      } else if (!"True".equals(reported.get().getStatus())) {
        failing.put(StoreViews.node(store), reported.get().getMessage());
      }
    }
    Map<String, ColdCopy> bad = new TreeMap<>();
    keptCold.forEach(
        (digest, cold) -> {
          if (known.contains(digest) && cold.state() != ColdCopyState.Confirmed) {
            bad.put(digest, cold);
          }
        });
    String reason;
    StringBuilder message = new StringBuilder();
    if (!failing.isEmpty()) {
      reason = "BucketUnreachable";
      message.append(failing.size()).append(" member nodes cannot use the bucket: ");
      failing.entrySet().stream()
          .limit(COLD_NAMED)
          .forEach(e -> message.append(e.getKey()).append(": ").append(e.getValue()).append(". "));
    } else if (!bad.isEmpty()) {
      reason = "BucketCopiesNotConfirmed";
    } else {
      reason = "BucketReachable";
      message.append("Every member reaches bucket ").append(in.coldTier().bucket()).append('.');
    }
    if (!bad.isEmpty()) {
      message.append(bad.size()).append(" bucket copies are not Confirmed: ");
      bad.entrySet().stream()
          .limit(COLD_NAMED)
          .forEach(
              e ->
                  message
                      .append(e.getKey())
                      .append(' ')
                      .append(e.getValue().state())
                      .append(
                          e.getValue().message() == null ? "" : " (" + e.getValue().message() + ")")
                      .append("; "));
      message.append("see kubectl get layers.");
    }
    boolean ready = failing.isEmpty() && bad.isEmpty();
    return Conditions.set(
        conditions,
        Conditions.COLD_TIER_READY,
        ready,
        reason,
        message.toString().trim(),
        in.generation(),
        now);
  }

  private static List<Condition> withoutCondition(List<Condition> conditions, String type) {
    if (conditions == null || Conditions.find(conditions, type).isEmpty()) {
      return conditions;
    }
    return conditions.stream().filter(c -> !type.equals(c.getType())).toList();
  }

  private static String readyReason(
      int nodes, int ready, int lost, boolean conflict, Map<String, String> failedPreloads) {
    if (nodes == 0) {
      return "NoMemberNodes";
    }
    if (conflict) {
      return "NodesConflict";
    }
    if (lost > 0) {
      return "LayersLost";
    }
    if (!failedPreloads.isEmpty()) {
      return PRELOADS_FAILED;
    }
    return ready < nodes ? "NodesNotReady" : null;
  }

  private static String readyMessage(
      String reason, int nodes, int ready, int lost, Map<String, String> failedPreloads) {
    if (reason == null) {
      return "All " + nodes + " member nodes are ready.";
    }
    return switch (reason) {
      case "NoMemberNodes" -> "No node matches spec.nodeSelector.";
      case "NodesConflict" -> "Some selected nodes are claimed by another namespace.";
      case "LayersLost" ->
          lost + " layers have no copy left and no source; see kubectl get layers.";
      case PRELOADS_FAILED -> failedPreloadsMessage(failedPreloads);
      default -> ready + " of " + nodes + " member nodes are ready.";
    };
  }

  private static String failedPreloadsMessage(Map<String, String> failedPreloads) {
    StringBuilder m =
        new StringBuilder("Preloads fail on " + failedPreloads.size() + " member nodes: ");
    failedPreloads.entrySet().stream()
        .limit(FAILING_NODES_NAMED)
        .forEach(e -> m.append(e.getKey()).append(": ").append(e.getValue()).append(" "));
    if (failedPreloads.size() > FAILING_NODES_NAMED) {
      m.append("And ").append(failedPreloads.size() - FAILING_NODES_NAMED).append(" more nodes. ");
    }
    return m.append("See kubectl describe layerstore <node>.").toString();
  }
}
