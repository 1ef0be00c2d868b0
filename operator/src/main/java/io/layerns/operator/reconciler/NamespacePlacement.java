package io.layerns.operator.reconciler;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Quantity;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopy;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PeerEndpoints;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.operator.placement.Assignment;
import io.layerns.operator.placement.ClusterState;
import io.layerns.operator.placement.ColdReport;
import io.layerns.operator.placement.Decision;
import io.layerns.operator.placement.Holder;
import io.layerns.operator.placement.LayerState;
import io.layerns.operator.placement.Member;
import io.layerns.operator.placement.Policy;
import io.layerns.operator.placement.Reason;
import io.layerns.operator.placement.Reference;
import io.layerns.operator.status.StoreViews;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Translates between the API objects and the pure placement function: the members' stores become
 * its observed state, and its decision becomes each member's {@code LayerStore.spec.layers}. What
 * the previous decision recorded (owners, idle times) is read back from the specs it wrote, so a
 * restarted operator decides the same.
 */
final class NamespacePlacement {
  private NamespacePlacement() {}

  static Policy policy(LayerNamespaceSpec spec) {
    int replicas = LayerNamespaceReconciler.replicas(spec);
    long grace =
        spec == null || spec.evictionGracePeriodSeconds() == null
            ? 300
            : spec.evictionGracePeriodSeconds();
    long timeout =
        spec == null || spec.nodeNotReadyTimeoutSeconds() == null
            ? 300
            : spec.nodeNotReadyTimeoutSeconds();
    long verifiedWithin =
        spec == null || spec.verifiedWithinSeconds() == null ? 0 : spec.verifiedWithinSeconds();
    return new Policy(
        replicas,
        Duration.ofSeconds(grace),
        Duration.ofSeconds(timeout),
        Duration.ofSeconds(verifiedWithin),
        spec == null || spec.coldTier() == null ? null : spec.coldTier().replicasOrDefault());
  }

  static ClusterState observe(
      LayerNamespaceSpec spec,
      SortedSet<String> members,
      Map<String, Node> nodes,
      Map<String, LayerStore> stores,
      Map<String, LayerSpec> layerSpecs,
      Set<String> namedLayers,
      Instant now) {
    Optional<Long> capacity =
        Optional.ofNullable(spec == null ? null : spec.nodeCapacity())
            .map(q -> Quantity.getAmountInBytes(new Quantity(q)).longValue());
    List<Member> memberList = new ArrayList<>();
    for (String name : members) {
      LayerStore store = stores.get(name);
      Optional<NodeCondition> ready = readyCondition(nodes.get(name));
      long reported =
          store == null || store.getStatus() == null || store.getStatus().capacityBytes() == null
              ? Member.UNLIMITED
              : store.getStatus().capacityBytes();
      long used =
          store == null || store.getStatus() == null || store.getStatus().usedBytes() == null
              ? 0
              : store.getStatus().usedBytes();
      memberList.add(
          new Member(
              name,
              ready.map(c -> "True".equals(c.getStatus())).orElse(false),
              ready
                  .map(NodeCondition::getLastTransitionTime)
                  .filter(t -> t != null && !t.isEmpty())
                  .map(Instant::parse)
                  .orElse(Instant.EPOCH),
              Math.min(reported, capacity.orElse(Member.UNLIMITED)),
              used));
    }

    // Per digest: copies, users, last owners and idle times, and what is known of it.
    Map<String, List<Holder>> holders = new TreeMap<>();
    Map<String, List<Reference>> references = new HashMap<>();
    Map<String, List<String>> previousOwners = new HashMap<>();
    Map<String, Long> sizes = new HashMap<>();
    Map<String, Boolean> sources = new HashMap<>();
    Map<String, String> coldKeepers = new HashMap<>();
    Map<String, List<ColdReport>> coldReports = new HashMap<>();
    for (String name : members) {
      LayerStore store = stores.get(name);
      if (store == null) {
        continue;
      }
      Map<String, AssignedLayer> assigned = new HashMap<>();
      for (AssignedLayer a : StoreViews.assigned(store)) {
        assigned.put(a.digest(), a);
        holders.computeIfAbsent(a.digest(), d -> new ArrayList<>());
        if (a.reason() == null || Reason.Owner.name().equals(a.reason())) {
          previousOwners.computeIfAbsent(a.digest(), d -> new ArrayList<>()).add(name);
        }
        if (a.size() != null) {
          sizes.merge(a.digest(), a.size(), Math::max);
        }
        if (a.sources() != null && !a.sources().isEmpty()) {
          sources.put(a.digest(), true);
        }
        if (a.keepsColdCopy()) {
          // Members are visited in name order, so two marked keepers (never written so) resolve
          // the same way every time.
          coldKeepers.putIfAbsent(a.digest(), name);
        }
      }
      // Read from members only; placement then believes the layer's keeper alone.
      for (ColdCopy cold : StoreViews.coldCopies(store)) {
        if (cold.digest() != null && cold.state() != null) {
          coldReports
              .computeIfAbsent(cold.digest(), d -> new ArrayList<>())
              .add(new ColdReport(name, cold.state()));
        }
      }
      for (HeldLayer held : StoreViews.held(store)) {
        AssignedLayer a = assigned.get(held.digest());
        Instant idleSince =
            a == null || a.idleSince() == null ? null : Instant.parse(a.idleSince());
        Instant verifiedAt =
            held.lastVerified() == null ? null : Instant.parse(held.lastVerified());
        Instant verifyAsked =
            a == null || a.verifyAfter() == null ? null : Instant.parse(a.verifyAfter());
        if (held.state() != null) {
          holders
              .computeIfAbsent(held.digest(), d -> new ArrayList<>())
              .add(new Holder(name, held.state(), idleSince, verifiedAt, verifyAsked));
        }
        if (held.size() != null) {
          sizes.merge(held.digest(), held.size(), Math::max);
        }
        if (held.source() != null) {
          sources.put(held.digest(), true);
        }
      }
      StoreViews.volumes(store)
          .forEach(
              v -> {
                for (VolumeLayer vl : StoreViews.layersOf(v)) {
                  holders.computeIfAbsent(vl.digest(), d -> new ArrayList<>());
                  references
                      .computeIfAbsent(vl.digest(), d -> new ArrayList<>())
                      .add(new Reference(name, vl.readsFrom() == null ? name : vl.readsFrom()));
                }
              });
    }
    // A layer whose every holder left with its store is named by no member store any more, but
    // its Layer still names this namespace: with a source, it is placed again and fetched from it.
    for (String digest : namedLayers) {
      LayerSpec known = layerSpecs.get(digest);
      if (known != null && known.sources() != null && !known.sources().isEmpty()) {
        holders.computeIfAbsent(digest, d -> new ArrayList<>());
      }
    }
    List<LayerState> layers = new ArrayList<>();
    holders.forEach(
        (digest, copies) -> {
          LayerSpec known = layerSpecs.get(digest);
          boolean hasSource =
              sources.getOrDefault(digest, false)
                  || (known != null && known.sources() != null && !known.sources().isEmpty());
          long size =
              sizes.getOrDefault(digest, known == null || known.size() == null ? 0 : known.size());
          layers.add(
              new LayerState(
                  digest,
                  size,
                  copies,
                  references.getOrDefault(digest, List.of()).stream().distinct().toList(),
                  hasSource,
                  previousOwners.getOrDefault(digest, List.of()),
                  coldKeepers.get(digest),
                  coldReports.getOrDefault(digest, List.of())));
        });
    return new ClusterState(policy(spec), now, memberList, layers);
  }

  /** The spec entries of one node, from the decision. */
  static List<AssignedLayer> assignedLayers(
      Decision decision, String node, Map<String, LayerSpec> layerSpecs) {
    List<AssignedLayer> out = new ArrayList<>();
    for (Assignment a : decision.assignmentsFor(node)) {
      LayerSpec known = layerSpecs.get(a.digest());
      out.add(
          new AssignedLayer(
              a.digest(),
              a.sizeBytes(),
              known == null ? null : known.mediaType(),
              a.fetch() && !a.peers().isEmpty() ? a.peers() : null,
              a.fetch() && a.fromSource() && known != null ? known.sources() : null,
              a.reason().name(),
              a.idleSince() == null ? null : a.idleSince().toString(),
              a.verifyAfter() == null ? null : a.verifyAfter().toString(),
              a.coldKeeper() ? Boolean.TRUE : null));
    }
    return out;
  }

  /** Endpoints of every peer the node is told to fetch from, from the peers' own reports. */
  static List<PeerEndpoints> peersOf(List<AssignedLayer> layers, Map<String, LayerStore> stores) {
    SortedSet<String> peers = new TreeSet<>();
    layers.forEach(
        l -> {
          if (l.peers() != null) peers.addAll(l.peers());
        });
    List<PeerEndpoints> out = new ArrayList<>();
    for (String peer : peers) {
      LayerStore store = stores.get(peer);
      if (store != null && store.getStatus() != null && store.getStatus().endpoints() != null) {
        out.add(new PeerEndpoints(peer, store.getStatus().endpoints()));
      }
    }
    return out.isEmpty() ? null : out;
  }

  /**
   * The images {@code member} must preload: each image goes to one ready member, chosen by
   * rendezvous hashing so the choice stays put as nodes come and go; placement then replicates its
   * layers like any other.
   */
  static List<String> preloadsFor(String member, List<String> images, ClusterState state) {
    if (images == null) {
      return null;
    }
    List<String> mine = new ArrayList<>();
    for (String image : images) {
      String chosen = null;
      long best = Long.MIN_VALUE;
      for (Member m : state.members()) {
        long weight = weight(image, m.name());
        if (m.ready() && (chosen == null || weight > best)) {
          chosen = m.name();
          best = weight;
        }
      }
      if (member.equals(chosen)) {
        mine.add(image);
      }
    }
    return mine.isEmpty() ? null : mine;
  }

  private static long weight(String key, String node) {
    try {
      byte[] h =
          java.security.MessageDigest.getInstance("SHA-256")
              .digest((key + "\u0000" + node).getBytes(java.nio.charset.StandardCharsets.UTF_8));
      return java.nio.ByteBuffer.wrap(h).getLong();
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** When the decision must be made again because time alone changes it, if ever. */
  static Optional<Duration> nextTimedChange(ClusterState state, Decision decision) {
    Instant now = state.now();
    Instant next = null;
    for (List<Assignment> list : decision.assignments().values()) {
      for (Assignment a : list) {
        if (a.idleSince() != null) {
          next = earliest(next, a.idleSince().plus(state.policy().evictionGrace()));
        }
      }
    }
    for (Member m : state.members()) {
      if (!m.ready()) {
        next = earliest(next, m.readinessChangedAt().plus(state.policy().notReadyTimeout()));
      }
    }
    if (next == null) {
      return Optional.empty();
    }
    Duration wait = Duration.between(now, next);
    return Optional.of(wait.isNegative() ? Duration.ofSeconds(1) : wait.plusSeconds(1));
  }

  private static Instant earliest(Instant a, Instant b) {
    return a == null || b.isBefore(a) ? b : a;
  }

  private static Optional<NodeCondition> readyCondition(Node node) {
    if (node == null || node.getStatus() == null || node.getStatus().getConditions() == null) {
      return Optional.empty();
    }
    return node.getStatus().getConditions().stream()
        .filter(c -> "Ready".equals(c.getType()))
        .findFirst();
  }
}
