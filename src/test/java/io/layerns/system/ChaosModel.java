package io.layerns.system;

import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.store.Digest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the chaos test has done to the cluster and what must therefore hold: the images in use, the
 * published volumes, the copies it corrupted on purpose, and the layers it allowed to be lost (all
 * their verified copies failed at once). {@link #check} compares one observation with it.
 */
final class ChaosModel {

  /** A published volume: on which node, of which image, and the kubelet's handle on it. */
  record Volume(String node, ChaosImages.Image image, PublishNode.Volume handle, boolean readOnly) {
    @Override
    public String toString() {
      return image.name() + " on " + node + " (" + handle.volumeId() + ")";
    }
  }

  /** The result of one check. */
  record Verdict(List<String> violations, List<String> unmet, int copiesVerified, int volumes) {
    boolean converged() {
      return violations.isEmpty() && unmet.isEmpty();
    }
  }

  int replicas = 2;
  final List<ChaosImages.Image> inUse = new ArrayList<>();
  final List<Volume> volumes = new ArrayList<>();

  /** Copies the test corrupted on disk (node to digests): the only unverified copies allowed. */
  final Map<String, Set<Digest>> rotten = new LinkedHashMap<>();

  /** Layers whose every verified copy failed in one step: they may be lost until one is back. */
  final Set<Digest> mayBeLost = new LinkedHashSet<>();

  /**
   * Layers lost with no registry source known (they came only through publishes, which record none,
   * as a pod's pull secret may be needed): the design promises a {@code Lost} report for them, not
   * their return, so their absence is allowed and they leave the namespace's figures.
   */
  final Set<Digest> lostWithoutSource = new LinkedHashSet<>();

  /** Verified holders of each layer at the last convergence. */
  private Map<Digest, Set<String>> lastGood = Map.of();

  /**
   * The layers that must have a copy at every moment: held verified at the last convergence, and
   * not allowed to be lost by a step's failures since.
   */
  Set<Digest> mustKeepACopy() {
    Set<Digest> out = new LinkedHashSet<>(lastGood.keySet());
    out.removeAll(mayBeLost);
    out.removeAll(lostWithoutSource);
    return out;
  }

  /** The layers the test has made the cluster hold: those of every image imported or published. */
  Set<Digest> expectedLayers() {
    Set<Digest> out = new LinkedHashSet<>();
    inUse.forEach(i -> out.addAll(i.layers()));
    return out;
  }

  void use(ChaosImages.Image image) {
    if (!inUse.contains(image)) {
      inUse.add(image);
    }
  }

  /**
   * Records that {@code nodes} failed together (removed with their disks) and {@code corrupted}
   * copies rotted: a layer whose every verified copy was among them may be lost; every other layer
   * must survive.
   *
   * @return the layers that may now be lost
   */
  Set<Digest> fail(Set<String> nodes, Map<String, Digest> corrupted) {
    Set<Digest> lost = new LinkedHashSet<>();
    for (Map.Entry<Digest, Set<String>> e : lastGood.entrySet()) {
      Set<String> left = new HashSet<>(e.getValue());
      left.removeAll(nodes);
      corrupted.forEach((node, d) -> left.remove(d.equals(e.getKey()) ? node : ""));
      if (left.isEmpty()) {
        lost.add(e.getKey());
      }
    }
    corrupted.forEach((node, d) -> rotten.computeIfAbsent(node, k -> new HashSet<>()).add(d));
    mayBeLost.addAll(lost);
    return lost;
  }

  /** Compares an observation with what must hold. */
  Verdict check(ChaosObservation o, Set<String> liveNodes, Map<Digest, Long> sizes) {
    List<String> violations = new ArrayList<>();
    List<String> unmet = new ArrayList<>();
    int verified = 0;
    Map<Digest, Set<String>> good = new LinkedHashMap<>();
    Map<Digest, Set<String>> onDisk = new LinkedHashMap<>();

    // No corrupted copy anywhere but where the test corrupted it.
    for (var node : o.disks().entrySet()) {
      for (var copy : node.getValue().entrySet()) {
        Digest d = copy.getKey();
        onDisk.computeIfAbsent(d, k -> new TreeSet<>()).add(node.getKey());
        if (copy.getValue().verified()) {
          verified++;
          good.computeIfAbsent(d, k -> new TreeSet<>()).add(node.getKey());
        } else if (!rotten.getOrDefault(node.getKey(), Set.of()).contains(d)) {
          // Only the copy the test rotted (blob or tree) may differ; a copy fetched from it
          // never (the fetch verifies), and a rotten copy's node takes it out once its scrub runs.
          violations.add(
              "CORRUPT copy of " + d + " on " + node.getKey() + ": " + copy.getValue().problem());
        }
      }
    }
    // Rot the agents have since dropped is gone for good.
    rotten.forEach(
        (node, ds) ->
            ds.removeIf(
                d -> {
                  var copy = o.disks().getOrDefault(node, Map.of()).get(d);
                  return copy == null || copy.verified();
                }));
    mayBeLost.removeIf(good::containsKey);

    Set<Digest> expected = expectedLayers();
    for (Digest d : onDisk.keySet()) {
      if (!expected.contains(d)) {
        violations.add("layer " + d + " on " + onDisk.get(d) + " belongs to no image in use");
      }
    }
    // A layer lost for good is expected no more, unless a publish has brought it back.
    expected.removeIf(d -> lostWithoutSource.contains(d) && !onDisk.containsKey(d));
    int effective = Math.min(replicas, liveNodes.size());

    // Who reads which copy, from the agents' reports of their volumes.
    Map<Digest, Set<String>> readFrom = new LinkedHashMap<>();
    boolean remoteReads = false;
    for (var s : o.stores().entrySet()) {
      LayerStore store = s.getValue();
      if (store == null || store.getStatus() == null || store.getStatus().volumes() == null) {
        continue;
      }
      for (PublishedVolume v : store.getStatus().volumes()) {
        for (VolumeLayer vl : v.layers() == null ? List.<VolumeLayer>of() : v.layers()) {
          readFrom
              .computeIfAbsent(Digest.parse(vl.digest()), k -> new HashSet<>())
              .add(vl.readsFrom());
          remoteReads |= !s.getKey().equals(vl.readsFrom());
        }
      }
    }

    // Each store: the agent acted on its latest spec, and its report matches its disk.
    for (String node : liveNodes) {
      LayerStore store = o.stores().get(node);
      if (store == null || store.getStatus() == null || store.getSpec() == null) {
        unmet.add("LayerStore " + node + " has no spec or status yet");
        continue;
      }
      if (!store.getMetadata().getGeneration().equals(store.getStatus().observedGeneration())) {
        unmet.add(
            node
                + "'s agent reported generation "
                + store.getStatus().observedGeneration()
                + " of "
                + store.getMetadata().getGeneration());
      }
      Set<Digest> present = new TreeSet<>(java.util.Comparator.comparing(Digest::toString));
      for (HeldLayer h :
          store.getStatus().layers() == null ? List.<HeldLayer>of() : store.getStatus().layers()) {
        Digest d = Digest.parse(h.digest());
        if (h.state() == CopyState.Present) {
          present.add(d);
        } else if (!mayBeLost.contains(d)) {
          unmet.add(node + " reports " + d + " " + h.state());
        }
      }
      Set<Digest> disk = new TreeSet<>(java.util.Comparator.comparing(Digest::toString));
      disk.addAll(o.disks().getOrDefault(node, Map.of()).keySet());
      if (!present.equals(disk)) {
        unmet.add(node + " reports Present " + present + " but its disk holds " + disk);
      }
    }

    // Each layer in use: held verified somewhere, replicated, owned, deduplicated.
    for (Digest d : expected) {
      Set<String> holders = onDisk.getOrDefault(d, Set.of());
      if (!good.containsKey(d) && !mayBeLost.contains(d)) {
        // Guarantee 1: a layer that had a verified copy must keep one (issue 21 item 3).
        (lastGood.containsKey(d) ? violations : unmet)
            .add("LOST " + d + ": no verified copy left, though it had " + lastGood.get(d));
        continue;
      }
      if (mayBeLost.contains(d)) {
        continue;
      }
      Layer layer = o.layers().get(d);
      if (layer == null || layer.getStatus() == null) {
        unmet.add("no Layer status for " + d);
        continue;
      }
      var status = layer.getStatus();
      Set<String> apiHolders = new TreeSet<>();
      for (LayerHolder h : status.holders() == null ? List.<LayerHolder>of() : status.holders()) {
        if (h.state() == CopyState.Present) {
          apiHolders.add(h.node());
        }
      }
      if (!apiHolders.equals(holders)) {
        unmet.add("Layer " + d + " shows holders " + apiHolders + ", disks hold " + holders);
      }
      List<String> owners = status.owners() == null ? List.of() : status.owners();
      if (owners.size() != effective || !holders.containsAll(owners)) {
        unmet.add(
            "Layer "
                + d
                + " owners "
                + owners
                + " (want "
                + effective
                + " holding it), holders "
                + holders);
      }
      for (String h : holders) {
        if (!owners.contains(h) && !readFrom.getOrDefault(d, Set.of()).contains(h)) {
          unmet.add(d + " still on " + h + ", which neither owns it nor serves a volume");
        }
      }
    }

    // The namespace's figures.
    LayerNamespaceStatus ns = o.namespace() == null ? null : o.namespace().getStatus();
    if (ns == null) {
      unmet.add("namespace has no status");
    } else if (mayBeLost.isEmpty()) {
      if (ns.underReplicatedLayers() == null || ns.underReplicatedLayers() != 0) {
        unmet.add("namespace reports " + ns.underReplicatedLayers() + " under-replicated layers");
      }
      if (ns.lostLayers() == null || ns.lostLayers() != 0) {
        unmet.add("namespace reports " + ns.lostLayers() + " lost layers");
      }
      long unique = expected.stream().mapToLong(sizes::get).sum();
      long stored =
          expected.stream()
              .mapToLong(d -> sizes.get(d) * onDisk.getOrDefault(d, Set.of()).size())
              .sum();
      if (!Long.valueOf(unique).equals(ns.uniqueBytes())
          || !Long.valueOf(stored).equals(ns.storedBytes())) {
        unmet.add(
            "namespace reports stored/unique "
                + ns.storedBytes()
                + "/"
                + ns.uniqueBytes()
                + ", disks hold "
                + stored
                + "/"
                + unique);
      }
      if (!remoteReads && volumes.isEmpty() && stored != effective * unique) {
        unmet.add("stored " + stored + " is not replicas x unique = " + effective * unique);
      }
    }

    // Every published volume shows its image, file by file.
    for (var v : o.volumes().entrySet()) {
      if (v.getValue() != null) {
        unmet.add("volume " + v.getKey() + " differs from its image: " + v.getValue());
      }
    }
    Verdict verdict = new Verdict(violations, unmet, verified, o.volumes().size());
    if (verdict.converged()) {
      lastGood = good;
    }
    return verdict;
  }
}
