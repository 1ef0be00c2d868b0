package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.CopyState;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A small cluster whose node agents obey placement decisions: fetches take a few steps and may
 * fail, drops happen at once, NotReady nodes do nothing. Deterministic for a given seed.
 */
final class SimulatedWorld {
  static final Duration GRACE = Duration.ofSeconds(300);
  static final Duration TIMEOUT = Duration.ofSeconds(600);

  private final Random random;
  private Policy policy;
  private Instant now = Instant.parse("2025-01-01T00:00:00Z");
  private final TreeMap<String, Node> nodes = new TreeMap<>();
  private final TreeMap<String, Layer> layers = new TreeMap<>();
  private final List<Reference> references = new ArrayList<>();
  private final List<String> referencedDigests = new ArrayList<>();
  private int nodesCreated;
  private int layersCreated;
  private double fetchFailureRate = 0.1;

  private static final class Node {
    boolean ready = true;
    Instant readinessChangedAt;
    long capacity;

    Node(Instant at, long capacity) {
      this.readinessChangedAt = at;
      this.capacity = capacity;
    }
  }

  private static final class Copy {
    CopyState state;
    Instant idleSince;
    int stepsLeft;
    Instant verifiedAt;
    Instant verifyRequestedAt;

    /** When the copy rotted (silently); null while intact. */
    Instant rotAt;

    Copy(CopyState state, int stepsLeft) {
      this.state = state;
      this.stepsLeft = stepsLeft;
    }
  }

  private static final class Layer {
    final long size;
    final boolean hasSource;
    final TreeMap<String, Copy> copies = new TreeMap<>();
    List<String> owners = List.of();

    Layer(long size, boolean hasSource) {
      this.size = size;
      this.hasSource = hasSource;
    }
  }

  SimulatedWorld(long seed, int nodeCount, int layerCount, int replicas) {
    this.random = new Random(seed);
    this.policy = new Policy(replicas, GRACE, TIMEOUT);
    for (int i = 0; i < nodeCount; i++) {
      addNode(random.nextInt(3) == 0 ? 400 + random.nextInt(600) : Member.UNLIMITED);
    }
    for (int i = 0; i < layerCount; i++) {
      importLayer(pick(nodes.keySet()), newLayer(random.nextBoolean()));
    }
  }

  /** Fetches stop failing, so a quiet world must converge. */
  void stopFailures() {
    fetchFailureRate = 0;
  }

  Policy policy() {
    return policy;
  }

  boolean allCapacityUnlimited() {
    return nodes.values().stream().allMatch(n -> n.capacity == Member.UNLIMITED);
  }

  ClusterState observe() {
    var used = new TreeMap<String, Long>();
    layers.forEach(
        (digest, layer) ->
            layer.copies.forEach(
                (node, copy) -> {
                  if (copy.state != CopyState.Failed) {
                    used.merge(node, layer.size, Long::sum);
                  }
                }));
    var members = new ArrayList<Member>();
    nodes.forEach(
        (name, node) ->
            members.add(
                new Member(
                    name,
                    node.ready,
                    node.readinessChangedAt,
                    node.capacity,
                    used.getOrDefault(name, 0L))));
    var states = new ArrayList<LayerState>();
    layers.forEach(
        (digest, layer) -> {
          var holders = new ArrayList<Holder>();
          layer.copies.forEach(
              (node, c) ->
                  holders.add(
                      new Holder(node, c.state, c.idleSince, c.verifiedAt, c.verifyRequestedAt)));
          var refs = new ArrayList<Reference>();
          for (int i = 0; i < references.size(); i++) {
            if (referencedDigests.get(i).equals(digest)) {
              refs.add(references.get(i));
            }
          }
          states.add(
              new LayerState(digest, layer.size, holders, refs, layer.hasSource, layer.owners));
        });
    return new ClusterState(policy, now, members, states);
  }

  /** The node agents and the operator act on the decision, then fetches progress one step. */
  void obey(Decision decision) {
    for (LayerDecision decided : decision.layers()) {
      Layer layer = layers.get(decided.digest());
      layer.owners = decided.owners();
      for (Drop drop : decided.drops()) {
        Copy dropped = layer.copies.remove(drop.node());
        checkNoGoodCopyLostToRot(decided.digest(), layer, dropped, drop.node());
      }
      for (Assignment a : decided.assignments()) {
        Copy copy = layer.copies.get(a.node());
        if (copy != null) {
          copy.idleSince = a.idleSince();
          copy.verifyRequestedAt = a.verifyAfter();
          if (a.verifyAfter() != null
              && nodes.get(a.node()).ready
              && copy.state == CopyState.Present
              && copy.verifiedAt.isBefore(a.verifyAfter())) {
            verificationsAsked++;
            if (copy.rotAt != null) {
              // The agent finds the rot and takes the copy out; it fetches a good one later.
              layer.copies.remove(a.node());
              rotFound++;
              copy = null;
            } else {
              copy.verifiedAt = now;
            }
          }
        }
        boolean acts = nodes.get(a.node()).ready;
        if (a.fetch() && acts && (copy == null || copy.state == CopyState.Failed)) {
          boolean canFetch = a.fromSource() || !a.peers().isEmpty();
          if (canFetch) {
            layer.copies.put(a.node(), new Copy(CopyState.Fetching, 1 + random.nextInt(3)));
          }
        }
      }
    }
    progressFetches();
  }

  /**
   * Verify before break, as the world sees it: a drop may leave only rotten copies of a layer that
   * had a good one only where the rot struck a copy after the operator asked it to verify (the
   * window the rule cannot close); rot that was there when it asked must have been found.
   */
  private void checkNoGoodCopyLostToRot(String digest, Layer layer, Copy dropped, String node) {
    if (dropped == null || dropped.rotAt != null || dropped.state != CopyState.Present) {
      return;
    }
    boolean goodLeft =
        layer.copies.values().stream()
            .anyMatch(c -> c.rotAt == null && c.state == CopyState.Present);
    if (goodLeft) {
      return;
    }
    for (Map.Entry<String, Copy> e : layer.copies.entrySet()) {
      Copy c = e.getValue();
      if (c.rotAt != null
          && c.state == CopyState.Present
          && (c.verifyRequestedAt == null || c.rotAt.isBefore(c.verifyRequestedAt))) {
        throw new AssertionError(
            "broken: verify before break: "
                + node
                + " dropped the last good copy of "
                + digest
                + " while "
                + e.getKey()
                + "'s copy had rotted at "
                + c.rotAt
                + (c.verifyRequestedAt == null
                    ? ", never asked to verify"
                    : ", before the verification asked at " + c.verifyRequestedAt));
      }
    }
  }

  int verificationsAsked;
  int rotFound;

  private void progressFetches() {
    for (Layer layer : layers.values()) {
      for (Map.Entry<String, Copy> entry : layer.copies.entrySet()) {
        Copy copy = entry.getValue();
        if (copy.state != CopyState.Fetching || !nodes.get(entry.getKey()).ready) {
          continue;
        }
        if (--copy.stepsLeft > 0) {
          continue;
        }
        boolean servable = layer.hasSource || hasReadyPresentCopy(layer, entry.getKey());
        copy.state =
            servable && random.nextDouble() >= fetchFailureRate
                ? CopyState.Present
                : CopyState.Failed;
        copy.verifiedAt = now;
      }
    }
  }

  void apply(WorldEvent event) {
    switch (event) {
      case WorldEvent.Join join ->
          addNode(join.capacity() == 0 ? Member.UNLIMITED : join.capacity());
      case WorldEvent.Leave leave -> {
        if (nodes.size() > 1) {
          removeNode(nth(nodes.keySet(), leave.node()));
        }
      }
      case WorldEvent.Crash crash -> setReady(nth(nodes.keySet(), crash.node()), false);
      case WorldEvent.Recover recover -> setReady(nth(nodes.keySet(), recover.node()), true);
      case WorldEvent.Import imp -> {
        String node = nth(nodes.keySet(), imp.node());
        if (nodes.get(node).ready) {
          String digest =
              imp.newLayer() || layers.isEmpty()
                  ? newLayer(imp.withSource())
                  : nth(layers.keySet(), imp.layer());
          importLayer(node, digest);
        }
      }
      case WorldEvent.Publish publish -> publish(publish);
      case WorldEvent.Unpublish unpublish -> {
        if (!references.isEmpty()) {
          int index = Math.floorMod(unpublish.reference(), references.size());
          references.remove(index);
          referencedDigests.remove(index);
        }
      }
      case WorldEvent.SetReplicas set -> policy = policy.withReplicas(set.replicas());
      case WorldEvent.Wait wait -> now = now.plusSeconds(wait.seconds());
      case WorldEvent.Rot rot -> {
        if (!layers.isEmpty()) {
          Layer layer = layers.get(nth(layers.keySet(), rot.layer()));
          var intact =
              layer.copies.entrySet().stream()
                  .filter(e -> e.getValue().state == CopyState.Present)
                  .filter(e -> e.getValue().rotAt == null)
                  .map(Map.Entry::getKey)
                  .collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
          if (!intact.isEmpty()) {
            layer.copies.get(nth(intact, rot.node())).rotAt = now;
            rotted++;
          }
        }
        now = now.plusSeconds(1);
      }
    }
  }

  /** Every node Ready, time moving on by the grace period: the world has nothing left to do. */
  void settle() {
    nodes.keySet().forEach(node -> setReady(node, true));
    // Within a scrub period every node finds the rot in its copies and takes them out.
    for (Layer layer : layers.values()) {
      layer.copies.values().removeIf(c -> c.rotAt != null);
    }
    now = now.plus(GRACE);
  }

  void advance(Duration duration) {
    now = now.plus(duration);
  }

  private void publish(WorldEvent.Publish publish) {
    if (layers.isEmpty()) {
      return;
    }
    String node = nth(nodes.keySet(), publish.node());
    String digest = nth(layers.keySet(), publish.layer());
    Layer layer = layers.get(digest);
    if (!nodes.get(node).ready) {
      return;
    }
    Copy local = layer.copies.get(node);
    if (local != null && local.state == CopyState.Present) {
      addReference(Reference.local(node), digest);
      return;
    }
    if (!publish.remote() && layer.hasSource) {
      // The Copy transport: the agent pulls its own copy and reads it locally.
      importLayer(node, digest);
      addReference(Reference.local(node), digest);
      return;
    }
    var servers =
        layer.copies.entrySet().stream()
            .filter(e -> e.getValue().state == CopyState.Present && nodes.get(e.getKey()).ready)
            .map(Map.Entry::getKey)
            .toList();
    if (!servers.isEmpty()) {
      addReference(new Reference(node, servers.get(random.nextInt(servers.size()))), digest);
    }
  }

  private void addReference(Reference reference, String digest) {
    references.add(reference);
    referencedDigests.add(digest);
  }

  private boolean hasReadyPresentCopy(Layer layer, String except) {
    for (Map.Entry<String, Copy> entry : layer.copies.entrySet()) {
      if (!entry.getKey().equals(except)
          && entry.getValue().state == CopyState.Present
          && entry.getValue().rotAt == null
          && nodes.get(entry.getKey()).ready) {
        return true;
      }
    }
    return false;
  }

  private void addNode(long capacity) {
    nodes.put("node-" + (nodesCreated++), new Node(now, capacity));
  }

  private void removeNode(String node) {
    nodes.remove(node);
    layers.values().forEach(layer -> layer.copies.remove(node));
    for (int i = references.size() - 1; i >= 0; i--) {
      if (references.get(i).node().equals(node)) {
        references.remove(i);
        referencedDigests.remove(i);
      }
    }
  }

  private void setReady(String node, boolean ready) {
    Node n = nodes.get(node);
    if (n.ready != ready) {
      n.ready = ready;
      n.readinessChangedAt = now;
    }
  }

  private String newLayer(boolean withSource) {
    String digest = String.format("sha256:%064x", layersCreated++);
    layers.put(digest, new Layer(10 + random.nextInt(90), withSource));
    return digest;
  }

  private void importLayer(String node, String digest) {
    Copy copy = new Copy(CopyState.Present, 0);
    copy.verifiedAt = now;
    layers.get(digest).copies.put(node, copy);
  }

  int rotted;

  private String pick(java.util.Set<String> names) {
    return nth(names, random.nextInt(names.size()));
  }

  private static String nth(java.util.Set<String> names, int index) {
    int wanted = Math.floorMod(index, names.size());
    return names.stream().skip(wanted).findFirst().orElseThrow();
  }
}
