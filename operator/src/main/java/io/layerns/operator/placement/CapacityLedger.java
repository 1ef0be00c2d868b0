package io.layerns.operator.placement;

/**
 * Room left on each member during one decision: reported free bytes minus the fetches this decision
 * already asked of the node, so one pass does not pile new copies onto a nearly full node.
 */
final class CapacityLedger {
  private final Membership membership;
  private final long[] reserved;

  CapacityLedger(Membership membership) {
    this.membership = membership;
    this.reserved = new long[membership.size()];
  }

  boolean fits(int member, long sizeBytes) {
    long free = membership.member(member).freeBytes();
    return free == Member.UNLIMITED || free - reserved[member] >= sizeBytes;
  }

  void reserve(int member, long sizeBytes) {
    reserved[member] += sizeBytes;
  }
}
