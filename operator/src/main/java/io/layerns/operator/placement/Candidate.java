package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.CopyState;
import java.util.Comparator;

/**
 * A node that could own a layer, with what ranks it: tier first, then having owned it before
 * (stability), then its rendezvous weight, then its name so the order is total.
 *
 * @param member the node's index in the membership (members sorted by name)
 * @param holder its copy of the layer, or null
 */
record Candidate(int member, int tier, boolean previousOwner, long weight, Holder holder) {
  static final int PRESENT = 4;
  static final int HAS_OR_GETS_DATA = 3;
  static final int ASSIGNED = 2;
  static final int MOUNTS = 1;
  static final int ANY = 0;
  static final int FAILED = -1;

  static final Comparator<Candidate> BEST_FIRST =
      Comparator.comparingInt(Candidate::tier)
          .thenComparing(Candidate::previousOwner)
          .thenComparingLong(Candidate::weight)
          .reversed()
          .thenComparingInt(Candidate::member);

  static int tierOf(Holder holder, boolean previousOwner, boolean mounts) {
    if (holder != null) {
      return switch (holder.state()) {
        case Present -> PRESENT;
        case Fetching, Evicting -> HAS_OR_GETS_DATA;
        // A failed fetch ranks last, so a node that keeps failing hands its ownership on.
        case Failed -> FAILED;
      };
    }
    return previousOwner ? ASSIGNED : mounts ? MOUNTS : ANY;
  }

  /** Taking this node costs a new fetch, so it must have room; kept owners are not re-checked. */
  boolean needsRoom() {
    return !previousOwner && !costsNoFetch();
  }

  boolean costsNoFetch() {
    return holder != null && holder.hasOrGetsData();
  }

  boolean holdsPresent() {
    return holder != null && holder.state() == CopyState.Present;
  }
}
