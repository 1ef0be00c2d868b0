package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.CopyState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

/** Checks every placement invariant of DESIGN.md on one (state, decision) pair. */
final class PlacementInvariants {
  private final ClusterState state;
  private final Decision decision;
  private final MemberIndex membership;
  private final Policy policy;

  private PlacementInvariants(ClusterState state, Decision decision) {
    this.state = state;
    this.decision = decision;
    this.membership = state.membership();
    this.policy = state.policy();
  }

  /** Throws an AssertionError naming the broken invariant, the layer and the decision. */
  static void check(ClusterState state, Decision decision) {
    new PlacementInvariants(state, decision).checkAll();
  }

  /** The state the operator would observe after recording the decision and nothing else. */
  static ClusterState recorded(ClusterState state, Decision decision) {
    var layers = new ArrayList<LayerState>();
    for (LayerState layer : state.layers()) {
      LayerDecision decided = decision.layer(layer.digest()).orElseThrow();
      var idleSince = new HashMap<String, Assignment>();
      decided.assignments().forEach(a -> idleSince.put(a.node(), a));
      var holders =
          layer.holders().stream()
              .map(
                  h ->
                      idleSince.containsKey(h.node())
                          ? new Holder(
                              h.node(),
                              h.state(),
                              idleSince.get(h.node()).idleSince(),
                              h.verifiedAt(),
                              idleSince.get(h.node()).verifyAfter())
                          : h)
              .toList();
      layers.add(
          new LayerState(
              layer.digest(),
              layer.sizeBytes(),
              holders,
              layer.references(),
              layer.hasSource(),
              decided.owners()));
    }
    return new ClusterState(state.policy(), state.now(), state.members(), layers);
  }

  /** The same state with every list in another order. */
  static ClusterState shuffled(ClusterState state, Random random) {
    var members = new ArrayList<>(state.members());
    Collections.shuffle(members, random);
    var layers = new ArrayList<LayerState>();
    for (LayerState layer : state.layers()) {
      var holders = new ArrayList<>(layer.holders());
      var references = new ArrayList<>(layer.references());
      var owners = new ArrayList<>(layer.previousOwners());
      Collections.shuffle(holders, random);
      Collections.shuffle(references, random);
      Collections.shuffle(owners, random);
      layers.add(
          new LayerState(
              layer.digest(), layer.sizeBytes(), holders, references, layer.hasSource(), owners));
    }
    Collections.shuffle(layers, random);
    return new ClusterState(state.policy(), state.now(), members, layers);
  }

  private void checkAll() {
    var roomAsked = new HashMap<String, Long>();
    int underReplicated = 0;
    var lost = new ArrayList<String>();
    for (LayerState layer : state.layers()) {
      LayerDecision decided =
          decision
              .layer(layer.digest())
              .orElseThrow(() -> new AssertionError("no decision for " + layer.digest()));
      new LayerCheck(layer, decided, roomAsked).run();
      switch (decided.health()) {
        case Lost -> lost.add(layer.digest());
        case UnderReplicated, NoCapacity -> underReplicated++;
        case Replicated -> {}
      }
    }
    require(decision.lost().equals(lost), "lost list matches the layers decided Lost");
    require(
        decision.underReplicated() == underReplicated,
        "underReplicated counts the UnderReplicated and NoCapacity layers");
    roomAsked.forEach(
        (node, bytes) ->
            require(
                bytes <= membership.member(membership.indexOf(node)).freeBytes(),
                "new copies asked of " + node + " (" + bytes + " bytes) fit its free space"));
    var byNode = new TreeMap<String, List<Assignment>>();
    for (LayerDecision decided : decision.layers()) {
      for (Assignment a : decided.assignments()) {
        byNode.computeIfAbsent(a.node(), n -> new ArrayList<>()).add(a);
      }
    }
    require(byNode.equals(decision.assignments()), "per-node assignments gather the layers'");
  }

  private static void require(boolean condition, String invariant) {
    if (!condition) {
      throw new AssertionError("broken: " + invariant);
    }
  }

  /** The checks of one layer. */
  private final class LayerCheck {
    private final LayerState layer;
    private final LayerDecision decided;
    private final Map<String, Long> roomAsked;
    private final Map<String, Holder> holders = new HashMap<>();
    private final Set<String> readFrom = new HashSet<>();
    private final Set<String> owners;

    LayerCheck(LayerState layer, LayerDecision decided, Map<String, Long> roomAsked) {
      this.layer = layer;
      this.decided = decided;
      this.roomAsked = roomAsked;
      layer.holders().forEach(h -> holders.put(h.node(), h));
      layer.references().forEach(r -> readFrom.add(r.readsFrom()));
      this.owners = new HashSet<>(decided.owners());
    }

    void run() {
      int replicas = policy.replicas();
      that(owners.size() == decided.owners().size(), "owners are distinct");
      that(owners.size() <= replicas, "at most replicas owners");
      for (String owner : owners) {
        Availability availability = membership.availability(owner);
        that(
            availability == Availability.Ready
                || (availability == Availability.NotReady
                    && layer.previousOwners().contains(owner)),
            "owner " + owner + " is Ready, or NotReady within the timeout and owned it before");
      }

      int presentOnReadyOwners = count(owners, CopyState.Present, true);
      int presentBefore = countPresentOnReady(Set.of());
      var droppedNodes = new HashSet<String>();
      for (Drop drop : decided.drops()) {
        droppedNodes.add(drop.node());
        Holder holder = holders.get(drop.node());
        that(holder != null && holder.state() == drop.state(), "a drop names an existing copy");
        that(!owners.contains(drop.node()), "no owner drops its copy (" + drop.node() + ")");
        that(!readFrom.contains(drop.node()), "no copy a volume reads is dropped: " + drop.node());
        that(
            membership.availability(drop.node()) == Availability.Ready,
            "only Ready nodes are told to drop");
        if (holder.state() != CopyState.Failed) {
          var idle = holder.idleSince() == null ? state.now() : holder.idleSince();
          that(
              Duration.between(idle, state.now()).compareTo(policy.evictionGrace()) >= 0,
              "a copy is dropped only after the grace period: " + drop.node());
        }
        if (holder.hasData()) {
          that(
              presentOnReadyOwners >= replicas,
              "make before break: "
                  + drop.node()
                  + " dropped with "
                  + presentOnReadyOwners
                  + " Present owners of "
                  + replicas);
          int verified = verifiedOnReadyOwners();
          that(
              verified >= replicas,
              "verify before break: "
                  + drop.node()
                  + " dropped with "
                  + verified
                  + " Ready owners holding copies verified recently or on request, of "
                  + replicas);
        }
      }
      for (Assignment a : decided.assignments()) {
        Holder h = holders.get(a.node());
        if (a.reason() == Reason.AwaitingVerification) {
          that(verifiedOnReadyOwners() < replicas, "a copy awaits verification only when it must");
        }
        if (a.verifyAfter() != null) {
          that(
              a.reason() == Reason.Owner && h != null && h.state() == CopyState.Present,
              "only owners with a Present copy are asked to verify");
          that(
              h.verifyRequestedAt() != null
                  || !h.verifiedRecently(state.now(), policy.verifiedWithin()),
              "a new request for verification only of a copy not verified recently");
          that(
              h.verifyRequestedAt() == null || a.verifyAfter().equals(h.verifyRequestedAt()),
              "a request for verification stays put until it is met");
        }
      }
      int presentAfter = countPresentOnReady(droppedNodes);
      that(
          presentAfter >= Math.min(presentBefore, replicas),
          "drops keep min(before, replicas) Present copies");
      boolean hadData = hasData(Set.of());
      that(!hadData || hasData(droppedNodes), "never drop the last copy");

      boolean lost = decided.health() == LayerHealth.Lost;
      that(lost == (!hadData && !layer.hasSource()), "Lost exactly when no copy and no source");
      if (!lost && decided.health() != LayerHealth.NoCapacity) {
        that(
            owners.size() == Math.min(replicas, eligibleNodes()),
            "replicas owners, or every eligible node when fewer");
      }
      if (decided.health() == LayerHealth.Replicated) {
        that(presentOnReadyOwners >= replicas, "Replicated means replicas Present owners");
      }
      checkAssignments(droppedNodes);
    }

    private int verifiedOnReadyOwners() {
      int n = 0;
      for (String owner : owners) {
        Holder h = holders.get(owner);
        if (h != null
            && h.state() == CopyState.Present
            && membership.availability(owner) == Availability.Ready
            && h.verifiedRecently(state.now(), policy.verifiedWithin())) {
          n++;
        }
      }
      return n;
    }

    private void checkAssignments(Set<String> droppedNodes) {
      var assigned = new HashSet<String>();
      for (Assignment a : decided.assignments()) {
        that(assigned.add(a.node()), "one assignment per node");
        that(membership.indexOf(a.node()) >= 0, "assignments go to members only");
        that((a.reason() == Reason.Owner) == owners.contains(a.node()), "owners are assigned");
        Holder holder = holders.get(a.node());
        if (a.fetch()) {
          that(holder == null || holder.state() != CopyState.Present, "fetch what is not there");
          that(a.fromSource() == layer.hasSource(), "fall back to the source when there is one");
          that(a.peers().size() <= Placement.MAX_PEERS, "few peers");
          for (String peer : a.peers()) {
            Holder copy = holders.get(peer);
            that(
                !peer.equals(a.node())
                    && copy != null
                    && copy.state() == CopyState.Present
                    && membership.availability(peer) == Availability.Ready,
                "peers are Ready nodes with a Present copy, not the fetcher");
          }
          boolean ownedBefore = layer.previousOwners().contains(a.node());
          if (!ownedBefore && (holder == null || !holder.hasOrGetsData())) {
            roomAsked.merge(a.node(), layer.sizeBytes(), Long::sum);
          }
        }
      }
      for (Holder holder : layer.holders()) {
        if (membership.indexOf(holder.node()) >= 0) {
          that(
              assigned.contains(holder.node()) != droppedNodes.contains(holder.node()),
              "every copy on a member is either kept or dropped: " + holder.node());
        }
      }
    }

    private int eligibleNodes() {
      int eligible = 0;
      for (Member member : state.members()) {
        Availability availability = membership.availability(member.name());
        if (availability == Availability.Ready
            || (availability == Availability.NotReady
                && layer.previousOwners().contains(member.name()))) {
          eligible++;
        }
      }
      return eligible;
    }

    private int count(Set<String> nodes, CopyState copyState, boolean readyOnly) {
      int count = 0;
      for (String node : nodes) {
        Holder holder = holders.get(node);
        if (holder != null
            && holder.state() == copyState
            && (!readyOnly || membership.availability(node) == Availability.Ready)) {
          count++;
        }
      }
      return count;
    }

    private int countPresentOnReady(Set<String> without) {
      var remaining = new HashSet<>(holders.keySet());
      remaining.removeAll(without);
      return count(remaining, CopyState.Present, true);
    }

    private boolean hasData(Set<String> without) {
      for (Holder holder : layer.holders()) {
        if (!without.contains(holder.node())
            && holder.hasData()
            && membership.availability(holder.node()) != Availability.Departed) {
          return true;
        }
      }
      return false;
    }

    private void that(boolean condition, String invariant) {
      if (!condition) {
        throw new AssertionError(
            "broken: " + invariant + "\n  layer:    " + layer + "\n  decision: " + decided);
      }
    }
  }
}
