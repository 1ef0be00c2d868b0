package io.layerns.operator.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * Random clusters live through random histories while obeying every decision; every invariant is
 * checked after every step, and at the end the quiet cluster must converge to {@code replicas}
 * copies. On failure jqwik prints the seed and the shrunk history.
 */
class PlacementPropertiesTest {

  /** How a simulated cluster starts. */
  record Setup(long seed, int nodes, int layers, int replicas) {}

  // The rarest labelled cases (AwaitingReplacement, NoCapacity) occurred in about 5% of tries (45
  // and 51 of 920 over three runs), so 200 tries miss one with a chance of about 1 in 20,000.
  @Property(tries = 200)
  void everyDecisionKeepsTheInvariantsAndAQuietClusterConverges(
      @ForAll("setups") Setup setup, @ForAll("histories") List<WorldEvent> history) {
    var world = new SimulatedWorld(setup.seed(), setup.nodes(), setup.layers(), setup.replicas());
    var seen = EnumSet.noneOf(Seen.class);
    int step = 0;
    for (WorldEvent event : history) {
      world.apply(event);
      reconcile(world, setup.seed() + step, "step " + step++ + " after " + event, seen);
    }

    world.stopFailures();
    world.settle();
    Decision last = null;
    for (int round = 0; round < 25; round++) {
      last = reconcile(world, setup.seed() + step, "settling round " + round, seen);
      world.advance(SimulatedWorld.GRACE);
    }
    if (world.rotFound > 0) {
      seen.add(Seen.RotFoundOnRequest);
    }
    assertConverged(world.observe(), last);
    seen.forEach(s -> Statistics.label("seen").collect(s));
    // A generator that stopped making one of these cases would otherwise pass unnoticed.
    Statistics.label("seen")
        .coverage(
            coverage -> {
              for (Seen s : Seen.values()) {
                coverage
                    .check(s)
                    .count(
                        (Integer tries) -> {
                          assertThat(tries).as("tries whose history saw %s", s).isPositive();
                        });
              }
            });
  }

  private enum Seen {
    DropOfPresentCopy,
    AwaitingReplacement,
    InUseCopyKept,
    NodeNotReady,
    Lost,
    NoCapacity,
    FetchFromPeer,
    FetchFromSourceOnly,
    AwaitingVerification,
    VerificationAsked,
    RotFoundOnRequest
  }

  private static Decision reconcile(
      SimulatedWorld world, long shuffleSeed, String when, Set<Seen> seen) {
    ClusterState state = world.observe();
    Decision decision = Placement.decide(state);
    try {
      PlacementInvariants.check(state, decision);
      assertThat(Placement.decide(PlacementInvariants.shuffled(state, new Random(shuffleSeed))))
          .as("the same state listed in another order gives the same decision")
          .isEqualTo(decision);
      assertThat(Placement.decide(PlacementInvariants.recorded(state, decision)))
          .as("recording the decision and deciding again changes nothing")
          .isEqualTo(decision);
      if (world.allCapacityUnlimited() && !state.layers().isEmpty()) {
        String one =
            state.layers().get((int) Math.floorMod(shuffleSeed, state.layers().size())).digest();
        assertThat(Placement.decideLayers(state, Set.of(one)).layers())
            .as("deciding one layer alone gives what the full decision gives")
            .containsExactly(decision.layer(one).orElseThrow());
      }
    } catch (AssertionError e) {
      throw new AssertionError(when + ": " + e.getMessage(), e);
    }
    record(decision, seen);
    world.obey(decision);
    return decision;
  }

  private static void record(Decision decision, Set<Seen> seen) {
    decision.drops().stream()
        .filter(d -> d.state() == io.layerns.api.v1alpha1.CopyState.Present)
        .findAny()
        .ifPresent(d -> seen.add(Seen.DropOfPresentCopy));
    for (LayerDecision layer : decision.layers()) {
      switch (layer.health()) {
        case Lost -> seen.add(Seen.Lost);
        case NoCapacity -> seen.add(Seen.NoCapacity);
        default -> {}
      }
      for (Assignment a : layer.assignments()) {
        switch (a.reason()) {
          case AwaitingReplacement -> seen.add(Seen.AwaitingReplacement);
          case AwaitingVerification -> seen.add(Seen.AwaitingVerification);
          case InUse -> seen.add(Seen.InUseCopyKept);
          case NodeNotReady -> seen.add(Seen.NodeNotReady);
          default -> {}
        }
        if (a.verifyAfter() != null) {
          seen.add(Seen.VerificationAsked);
        }
        if (a.fetch()) {
          seen.add(a.peers().isEmpty() ? Seen.FetchFromSourceOnly : Seen.FetchFromPeer);
        }
      }
    }
  }

  /** Every layer has its copies, and the only copies beyond them are ones volumes read. */
  private static void assertConverged(ClusterState state, Decision decision) {
    int replicas = state.policy().replicas();
    var unconverged = new TreeSet<String>();
    for (LayerDecision layer : decision.layers()) {
      boolean settled =
          switch (layer.health()) {
            case Replicated ->
                layer.assignments().stream()
                    .allMatch(a -> a.reason() == Reason.Owner || a.reason() == Reason.InUse);
            case Lost, NoCapacity -> true;
            case UnderReplicated -> layer.owners().size() < replicas;
          };
      if (!settled) {
        unconverged.add(layer.toString());
      }
    }
    assertThat(unconverged).as("layers that did not converge once the cluster was quiet").isEmpty();
  }

  @Provide
  Arbitrary<Setup> setups() {
    return Combinators.combine(
            Arbitraries.longs(),
            Arbitraries.integers().between(2, 6),
            Arbitraries.integers().between(1, 8),
            Arbitraries.integers().between(1, 3))
        .as(Setup::new);
  }

  @Provide
  Arbitrary<List<WorldEvent>> histories() {
    Arbitrary<Integer> index = Arbitraries.integers().between(0, 15);
    Arbitrary<Boolean> coin = Arbitraries.of(true, false);
    return Arbitraries.<WorldEvent>frequencyOf(
            Tuple.of(2, Arbitraries.of(0, 0, 200, 600).map(WorldEvent.Join::new)),
            Tuple.of(1, index.map(WorldEvent.Leave::new)),
            Tuple.of(3, index.map(WorldEvent.Crash::new)),
            Tuple.of(2, index.map(WorldEvent.Recover::new)),
            Tuple.of(3, Combinators.combine(index, index, coin, coin).as(WorldEvent.Import::new)),
            Tuple.of(6, Combinators.combine(index, index, coin).as(WorldEvent.Publish::new)),
            Tuple.of(2, index.map(WorldEvent.Unpublish::new)),
            Tuple.of(2, Arbitraries.integers().between(1, 3).map(WorldEvent.SetReplicas::new)),
            Tuple.of(2, Combinators.combine(index, index).as(WorldEvent.Rot::new)),
            Tuple.of(4, Arbitraries.of(10, 60, 150, 300, 700).map(WorldEvent.Wait::new)))
        .list()
        .ofMinSize(10)
        .ofMaxSize(80);
  }
}
