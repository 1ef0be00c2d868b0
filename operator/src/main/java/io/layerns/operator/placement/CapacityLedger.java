package io.layerns.operator.placement;

/**
 * Room left on each member during one decision: reported free bytes minus the fetches this decision
 * already asked of the node, so one pass does not pile new copies onto a nearly full node.
 */
final class CapacityLedger {
  private final long[] remaining;

  CapacityLedger(MemberIndex membership) {
    this.remaining = new long[membership.size()];
    for (int member = 0; member < remaining.length; member++) {
      remaining[member] = membership.member(member).freeBytes();
    }
  }

  boolean fits(int member, long sizeBytes) {
    return remaining[member] >= sizeBytes;
  }

  void reserve(int member, long sizeBytes) {
    if (remaining[member] != Member.UNLIMITED) {
      remaining[member] = Math.max(0, remaining[member] - sizeBytes);
    }
  }
}
