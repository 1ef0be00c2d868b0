package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.CopyState;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Decides one layer after another within one decision: chooses owners, then sorts every other copy
 * into kept or dropped. Not thread-safe; one instance per decision.
 */
final class LayerPlacement {
  private final MemberIndex membership;
  private final Policy policy;
  private final Instant now;
  private final CapacityLedger ledger;
  // marks[member] == stamp: the member is already a candidate of the current layer.
  private final int[] marks;
  private int stamp;

  LayerPlacement(MemberIndex membership) {
    this.membership = membership;
    this.policy = membership.policy();
    this.now = membership.now();
    this.ledger = new CapacityLedger(membership);
    this.marks = new int[membership.size()];
  }

  LayerDecision decide(LayerState layer) {
    stamp++;
    long layerHash = Rendezvous.hash(layer.digest());
    Map<String, Holder> holders = holdersByNode(layer);
    Set<String> inUse = new HashSet<>();
    for (Reference reference : layer.references()) {
      inUse.add(reference.readsFrom());
    }

    boolean dataOnAMember = hasDataOnAMember(layer);
    int keeper = policy.hasColdTier() ? coldKeeper(layer, layerHash, holders) : -1;
    ColdReport coldReport =
        keeper < 0 ? null : layer.coldReportOf(membership.member(keeper).name());
    // Only the keeper's own report counts: no other node, member or not, can make copies go.
    boolean coldConfirmed = coldReport != null && coldReport.state() == ColdCopyState.Confirmed;
    // A bucket copy counts toward durability only while Confirmed; until then, and again once it
    // is found Missing or Corrupt, the layer keeps the namespace's replicas on nodes.
    int wanted = coldConfirmed ? policy.coldReplicas() : policy.replicas();
    // The bucket may still hold it while the keeper has not looked yet or cannot reach the
    // bucket: not reported Lost then, and owners fetch it (their agents try the bucket).
    boolean bucketMayHold =
        keeper >= 0
            && (coldReport == null
                || coldReport.state() == ColdCopyState.Confirmed
                || coldReport.state() == ColdCopyState.Failed);
    boolean lost = !dataOnAMember && !layer.hasSource() && !bucketMayHold;
    var selection = new OwnerSelection();
    if (!lost) {
      selection = selectOwners(layer, layerHash, holders, dataOnAMember, wanted, keeper);
      for (Candidate owner : selection.owners) {
        if (!owner.costsNoFetch()) {
          ledger.reserve(owner.member(), layer.sizeBytes());
        }
      }
    }
    List<Candidate> owners = selection.owners;
    int presentOwners = 0;
    for (Candidate owner : owners) {
      if (owner.holdsPresent() && membership.availability(owner.member()) == Availability.Ready) {
        presentOwners++;
      }
    }

    var ownerNames = new ArrayList<String>(owners.size());
    var assignments = new ArrayList<Assignment>();
    List<Candidate> peers = null;
    for (Candidate owner : owners) {
      String node = membership.member(owner.member()).name();
      ownerNames.add(node);
      if (owner.holdsPresent()) {
        assignments.add(keep(node, layer, Reason.Owner, null));
      } else {
        if (peers == null) {
          peers = presentPeers(layer, layerHash);
        }
        assignments.add(
            new Assignment(
                node,
                layer.digest(),
                layer.sizeBytes(),
                Reason.Owner,
                true,
                peerNames(peers, owner.member()),
                layer.hasSource(),
                null));
      }
    }

    var drops = new ArrayList<Drop>();
    boolean replicated = presentOwners >= wanted;
    int verifiedOwners = 0;
    for (Candidate owner : owners) {
      if (owner.holdsPresent()
          && membership.availability(owner.member()) == Availability.Ready
          && owner.holder().verifiedRecently(now, policy.verifiedWithin())) {
        verifiedOwners++;
      }
    }
    boolean verified = verifiedOwners >= wanted;
    boolean awaitingVerification = false;
    for (Holder holder : layer.holders()) {
      int member = membership.indexOf(holder.node());
      // A node that is no longer a member has no store spec to write; its copy is out of reach.
      if (member < 0 || isOwner(owners, member)) {
        continue;
      }
      boolean used = inUse.contains(holder.node());
      Instant idleSince = used ? null : holder.idleSince() == null ? now : holder.idleSince();
      Reason keepFor = keepReason(holder, member, used, idleSince, replicated, verified);
      awaitingVerification |=
          keepFor == Reason.AwaitingVerification || (keepFor == null && holder.hasData());
      if (keepFor == null) {
        drops.add(new Drop(holder.node(), layer.digest(), holder.state()));
      } else {
        assignments.add(keep(holder.node(), layer, keepFor, idleSince));
      }
    }
    if (awaitingVerification) {
      askOwnersToVerify(assignments, holders);
    }
    String keeperName = null;
    if (keeper >= 0) {
      keeperName = membership.member(keeper).name();
      markColdKeeper(assignments, keeperName, layer);
    }
    assignments.sort(Comparator.comparing(Assignment::node));
    drops.sort(Comparator.comparing(Drop::node));

    LayerHealth health =
        lost
            ? LayerHealth.Lost
            : replicated
                ? LayerHealth.Replicated
                : owners.size() < wanted && selection.roomShort
                    ? LayerHealth.NoCapacity
                    : LayerHealth.UnderReplicated;
    return new LayerDecision(
        layer.digest(),
        ownerNames,
        assignments,
        drops,
        health,
        message(health, layer, owners.size(), presentOwners, wanted),
        wanted,
        keeperName,
        coldConfirmed);
  }

  /**
   * The member that keeps the layer's bucket copy, or -1. Stable: the previous keeper stays while
   * it is still a member (not departed) and either holds a Present copy to write from, has the
   * bucket copy Confirmed, or no Ready member holds a Present copy it could hand over to. Otherwise
   * the Ready holder of a Present copy that owned the layer before, then by rendezvous weight; and
   * when nobody holds one, any Ready member by weight, which can still check the bucket.
   */
  private int coldKeeper(LayerState layer, long layerHash, Map<String, Holder> holders) {
    int bestHolder = -1;
    boolean bestWasOwner = false;
    long bestWeight = 0;
    var previousOwners = new HashSet<>(layer.previousOwners());
    for (Holder holder : layer.holders()) {
      int member = membership.indexOf(holder.node());
      if (member < 0
          || holder.state() != CopyState.Present
          || membership.availability(member) != Availability.Ready) {
        continue;
      }
      boolean wasOwner = previousOwners.contains(holder.node());
      long weight = Rendezvous.weight(layerHash, membership.nodeHash(member));
      if (bestHolder < 0
          || (wasOwner && !bestWasOwner)
          || (wasOwner == bestWasOwner && weight > bestWeight)) {
        bestHolder = member;
        bestWasOwner = wasOwner;
        bestWeight = weight;
      }
    }
    String previous = layer.previousColdKeeper();
    int previousMember = previous == null ? -1 : membership.indexOf(previous);
    if (previousMember >= 0 && membership.availability(previousMember) != Availability.Departed) {
      Holder held = holders.get(previous);
      ColdReport report = layer.coldReportOf(previous);
      if ((held != null && held.state() == CopyState.Present)
          || (report != null && report.state() == ColdCopyState.Confirmed)
          || bestHolder < 0) {
        return previousMember;
      }
    }
    if (bestHolder >= 0) {
      return bestHolder;
    }
    int best = -1;
    for (int member = 0; member < membership.size(); member++) {
      if (membership.availability(member) != Availability.Ready) {
        continue;
      }
      long weight = Rendezvous.weight(layerHash, membership.nodeHash(member));
      if (best < 0 || weight > bestWeight) {
        best = member;
        bestWeight = weight;
      }
    }
    return best;
  }

  /**
   * Marks the keeper's entry, or lists the keeper for its bucket copy alone: a keeper need not hold
   * the layer (a cold layer may keep fewer node copies), but it keeps the bucket copy checked.
   */
  private static void markColdKeeper(
      List<Assignment> assignments, String keeper, LayerState layer) {
    for (int i = 0; i < assignments.size(); i++) {
      if (assignments.get(i).node().equals(keeper)) {
        assignments.set(i, assignments.get(i).asColdKeeper());
        return;
      }
    }
    assignments.add(
        new Assignment(
            keeper,
            layer.digest(),
            layer.sizeBytes(),
            Reason.ColdKeeper,
            false,
            List.of(),
            false,
            null,
            null,
            true));
  }

  /**
   * Verify before break: while a copy with data waits for the owners' verification or goes, each
   * owner whose Present copy does not count as verified is asked to verify it again, and a request
   * already made stays put (it is what the drop relies on once met).
   */
  private void askOwnersToVerify(List<Assignment> assignments, Map<String, Holder> holders) {
    for (int i = 0; i < assignments.size(); i++) {
      Assignment a = assignments.get(i);
      Holder h = holders.get(a.node());
      if (a.reason() != Reason.Owner || h == null || h.state() != CopyState.Present) {
        continue;
      }
      if (h.verifyRequestedAt() != null) {
        assignments.set(i, a.askingVerificationAfter(h.verifyRequestedAt()));
      } else if (!h.verifiedRecently(now, policy.verifiedWithin())) {
        assignments.set(i, a.askingVerificationAfter(now));
      }
    }
  }

  /** Null when the copy may be dropped now; otherwise why it must stay. */
  private Reason keepReason(
      Holder holder,
      int member,
      boolean used,
      Instant idleSince,
      boolean replicated,
      boolean verified) {
    if (membership.availability(member) != Availability.Ready) {
      return Reason.NodeNotReady;
    }
    if (used) {
      return Reason.InUse;
    }
    if (holder.state() == CopyState.Failed) {
      return null;
    }
    if (Duration.between(idleSince, now).compareTo(policy.evictionGrace()) < 0) {
      return Reason.GracePeriod;
    }
    if (!holder.hasData()) {
      return null;
    }
    // Make before break: a copy with data goes only once every owner has a Present copy,
    if (!replicated) {
      return Reason.AwaitingReplacement;
    }
    // and verify before break: once they verified those copies recently (rot is silent).
    return verified ? null : Reason.AwaitingVerification;
  }

  private OwnerSelection selectOwners(
      LayerState layer,
      long layerHash,
      Map<String, Holder> holders,
      boolean dataOnAMember,
      int replicas,
      int coldKeeper) {
    var previous = new HashSet<>(layer.previousOwners());
    var mounting = new HashSet<String>();
    for (Reference reference : layer.references()) {
      mounting.add(reference.node());
    }
    var candidates = new ArrayList<Candidate>();
    for (Holder holder : layer.holders()) {
      addCandidate(
          candidates, holder.node(), layerHash, holders, previous, mounting, dataOnAMember);
    }
    for (String node : layer.previousOwners()) {
      addCandidate(candidates, node, layerHash, holders, previous, mounting, dataOnAMember);
    }
    for (String node : mounting) {
      addCandidate(candidates, node, layerHash, holders, previous, mounting, dataOnAMember);
    }
    candidates.sort(Candidate.BEST_FIRST);
    // The cold keeper's Present copy is the one kept first: it is what the bucket copy is written
    // (and written again) from, so a cold layer's last node copy stays with its keeper.
    for (int i = 1; i < candidates.size(); i++) {
      Candidate candidate = candidates.get(i);
      if (candidate.member() == coldKeeper
          && candidate.tier() == Candidate.PRESENT
          && candidates.getFirst().tier() == Candidate.PRESENT) {
        candidates.remove(i);
        candidates.addFirst(candidate);
        break;
      }
    }

    var selection = new OwnerSelection();
    for (Candidate candidate : candidates) {
      if (candidate.tier() > Candidate.FAILED) {
        selection.offer(candidate, replicas, layer.sizeBytes());
      }
    }
    if (selection.owners.size() < replicas) {
      selection.owners.addAll(
          bestOfTheRest(layer, layerHash, replicas - selection.size(), selection));
    }
    for (Candidate candidate : candidates) {
      if (candidate.tier() == Candidate.FAILED) {
        selection.offer(candidate, replicas, layer.sizeBytes());
      }
    }
    selection.owners.sort(Comparator.comparingInt(Candidate::member));
    return selection;
  }

  private void addCandidate(
      List<Candidate> candidates,
      String node,
      long layerHash,
      Map<String, Holder> holders,
      Set<String> previous,
      Set<String> mounting,
      boolean dataOnAMember) {
    int member = membership.indexOf(node);
    if (member < 0 || marks[member] == stamp) {
      return;
    }
    marks[member] = stamp;
    boolean previousOwner = previous.contains(node);
    Availability availability = membership.availability(member);
    // A NotReady node keeps what it owned until the timeout, but takes nothing new.
    boolean eligible =
        availability == Availability.Ready
            || (availability == Availability.NotReady && previousOwner);
    if (!eligible) {
      return;
    }
    Holder holder = holders.get(node);
    int tier = Candidate.tierOf(holder, previousOwner, mounting.contains(node));
    if (tier == Candidate.FAILED && previousOwner && !dataOnAMember) {
      // No member holds the layer, so any owner fetches it from the same sources: handing the
      // ownership on would only move the failure, and back again once this node, no longer
      // owner, stops reporting it. The owner keeps it and its agent retries.
      tier = Candidate.ASSIGNED;
    }
    long weight = Rendezvous.weight(layerHash, membership.nodeHash(member));
    candidates.add(new Candidate(member, tier, previousOwner, weight, holder));
  }

  /** The highest-weight Ready members with room among those with no tie to the layer. */
  private List<Candidate> bestOfTheRest(
      LayerState layer, long layerHash, int wanted, OwnerSelection selection) {
    var best = new ArrayList<Candidate>(wanted + 1);
    for (int member = 0; member < membership.size(); member++) {
      if (marks[member] == stamp || membership.availability(member) != Availability.Ready) {
        continue;
      }
      long weight = Rendezvous.weight(layerHash, membership.nodeHash(member));
      // Cheapest test first. Skipping a full node unseen here is harmless: a full top-k list
      // means the layer got its owners, so whether some node lacked room no longer matters.
      if (best.size() == wanted && weight <= best.get(wanted - 1).weight()) {
        continue;
      }
      if (!ledger.fits(member, layer.sizeBytes())) {
        selection.roomShort = true;
        continue;
      }
      var candidate = new Candidate(member, Candidate.ANY, false, weight, null);
      int at = 0;
      while (at < best.size() && best.get(at).weight() >= weight) {
        at++;
      }
      best.add(at, candidate);
      if (best.size() > wanted) {
        best.removeLast();
      }
    }
    for (Candidate candidate : best) {
      marks[candidate.member()] = stamp;
    }
    return best;
  }

  /** Ready holders of a Present copy, best first, for fetchers to read from. */
  private List<Candidate> presentPeers(LayerState layer, long layerHash) {
    var peers = new ArrayList<Candidate>();
    for (Holder holder : layer.holders()) {
      int member = membership.indexOf(holder.node());
      if (member >= 0
          && holder.state() == CopyState.Present
          && membership.availability(member) == Availability.Ready) {
        long weight = Rendezvous.weight(layerHash, membership.nodeHash(member));
        peers.add(new Candidate(member, Candidate.PRESENT, false, weight, holder));
      }
    }
    peers.sort(Candidate.BEST_FIRST);
    return peers;
  }

  private List<String> peerNames(List<Candidate> peers, int fetcher) {
    var names = new ArrayList<String>(Placement.MAX_PEERS);
    for (Candidate peer : peers) {
      if (names.size() == Placement.MAX_PEERS) {
        break;
      }
      if (peer.member() != fetcher) {
        names.add(membership.member(peer.member()).name());
      }
    }
    return names;
  }

  private boolean hasDataOnAMember(LayerState layer) {
    for (Holder holder : layer.holders()) {
      if (holder.hasData() && membership.availability(holder.node()) != Availability.Departed) {
        return true;
      }
    }
    return false;
  }

  private static boolean isOwner(List<Candidate> owners, int member) {
    for (Candidate owner : owners) {
      if (owner.member() == member) {
        return true;
      }
    }
    return false;
  }

  private static Map<String, Holder> holdersByNode(LayerState layer) {
    Map<String, Holder> byNode = HashMap.newHashMap(layer.holders().size());
    for (Holder holder : layer.holders()) {
      byNode.put(holder.node(), holder);
    }
    return byNode;
  }

  private static Assignment keep(String node, LayerState layer, Reason reason, Instant idleSince) {
    return new Assignment(
        node, layer.digest(), layer.sizeBytes(), reason, false, List.of(), false, idleSince);
  }

  private String message(
      LayerHealth health, LayerState layer, int owners, int presentOwners, int replicas) {
    return switch (health) {
      case Replicated -> "";
      case Lost ->
          "No member node holds layer "
              + layer.digest()
              + " and it has no known source; re-import the image that contains it.";
      case NoCapacity ->
          "Only "
              + owners
              + " of "
              + replicas
              + " wanted nodes can hold "
              + layer.sizeBytes()
              + " more bytes; raise nodeCapacity, free space, or add member nodes.";
      case UnderReplicated ->
          presentOwners
              + " of "
              + replicas
              + " copies are Present on Ready owners; "
              + (owners < replicas
                  ? "the namespace has only " + owners + " eligible nodes."
                  : "the others are being fetched.");
    };
  }

  /** The owners chosen so far, and whether a node was passed over for lack of room. */
  private final class OwnerSelection {
    final List<Candidate> owners = new ArrayList<>();
    boolean roomShort;

    int size() {
      return owners.size();
    }

    void offer(Candidate candidate, int replicas, long sizeBytes) {
      if (owners.size() >= replicas) {
        return;
      }
      if (candidate.needsRoom() && !ledger.fits(candidate.member(), sizeBytes)) {
        roomShort = true;
        return;
      }
      owners.add(candidate);
    }
  }
}
