package io.layerns.operator.placement;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The member nodes at the instant of a decision, indexed once so that deciding a layer costs O(its
 * holders) plus, only when it needs a new owner, one pass over the members.
 */
public final class MemberIndex {
  private final Policy policy;
  private final Instant now;
  private final Member[] members;
  private final long[] nodeHashes;
  private final Availability[] availability;
  // Looked up by name only, never iterated, so its order cannot leak into a decision.
  private final Map<String, Integer> indexByName;

  private MemberIndex(Policy policy, Instant now, Member[] members) {
    this.policy = policy;
    this.now = now;
    this.members = members;
    this.nodeHashes = new long[members.length];
    this.availability = new Availability[members.length];
    this.indexByName = HashMap.newHashMap(members.length);
    for (int i = 0; i < members.length; i++) {
      Member member = members[i];
      if (indexByName.put(member.name(), i) != null) {
        throw new IllegalArgumentException("member " + member.name() + " is listed twice");
      }
      nodeHashes[i] = Rendezvous.hash(member.name());
      availability[i] = availabilityOf(member);
    }
  }

  /** Indexes the members (in any order) for decisions at {@code now} under {@code policy}. */
  public static MemberIndex of(Policy policy, Instant now, Collection<Member> members) {
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(now, "now");
    Member[] sorted = members.toArray(Member[]::new);
    // Sorted by name so that any scan over members, and so every tie, is order-independent.
    Arrays.sort(sorted, Comparator.comparing(Member::name));
    return new MemberIndex(policy, now, sorted);
  }

  public Policy policy() {
    return policy;
  }

  public Instant now() {
    return now;
  }

  /** The availability of a node by name; a node that is not a member has departed. */
  public Availability availability(String node) {
    int index = indexOf(node);
    return index < 0 ? Availability.Departed : availability[index];
  }

  int size() {
    return members.length;
  }

  /** The member's position, or -1 when the node is not a member. */
  int indexOf(String node) {
    Integer index = indexByName.get(node);
    return index == null ? -1 : index;
  }

  Member member(int index) {
    return members[index];
  }

  long nodeHash(int index) {
    return nodeHashes[index];
  }

  Availability availability(int index) {
    return availability[index];
  }

  private Availability availabilityOf(Member member) {
    if (member.ready()) {
      return Availability.Ready;
    }
    Duration notReadyFor = Duration.between(member.readinessChangedAt(), now);
    return notReadyFor.compareTo(policy.notReadyTimeout()) < 0
        ? Availability.NotReady
        : Availability.Departed;
  }
}
