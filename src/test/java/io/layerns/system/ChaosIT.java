package io.layerns.system;

import static org.awaitility.Awaitility.await;

import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.store.Digest;
import io.layerns.operator.status.LayerAggregator;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chaos test: five real node plugins, the operator and the real control plane through a long
 * random sequence of imports, publishes, unpublishes, {@code replicas} changes, {@code kill -9} of
 * agents, node removals, a corrupted copy served by a peer, and restarts of the operator and the
 * API server. After every step it waits for the cluster to converge and checks that no layer that
 * kept a verified copy was lost, that no volume lost a file, that no copy differs from its digest
 * (bar the one it corrupted), and that disks, stores, Layers and the namespace agree.
 *
 * <p>Seeded: {@code -Dlayerns.chaos.seed=N} replays a run (the seed is printed at the start and in
 * every failure); {@code -Dlayerns.chaos.steps=N} sets its length (default {@value #DEFAULT_STEPS},
 * sized for CI).
 */
@WithControlPlane
class ChaosIT {
  static final int DEFAULT_STEPS = 20;
  private static final int NODES = 5;
  private static final int IMAGES = 8;
  private static final Duration CONVERGE = Duration.ofMinutes(3);

  enum Kind {
    IMPORT(8),
    PUBLISH(12),
    UNPUBLISH(10),
    REPLICAS(9),
    KILL_AGENT(12),
    REMOVE_NODE(5),
    REMOVE_TWO_NODES(1),
    CORRUPT(5),
    RESTART_OPERATOR(5),
    RESTART_API_SERVER(3);

    final int weight;

    Kind(int weight) {
      this.weight = weight;
    }
  }

  private long seed;
  private int stepNo;
  private String stepText = "set-up";
  private Random random;
  private Random rot;
  private int blobsRotted;
  private int treesRotted;
  private int volumesReadRot;
  private long corruptEvents;
  private int volumesLostToScrub;
  private java.time.Instant runStart;
  private final List<Long> holderRestartRecoveryMillis = new ArrayList<>();
  private final LossWatch watch = new LossWatch();
  private ChaosCluster cluster;
  private final ChaosModel model = new ChaosModel();
  private final Map<Kind, Integer> kinds = new EnumMap<>(Kind.class);
  private final List<Long> convergeMillis = new ArrayList<>();
  private long copiesVerified;
  private long volumesChecked;
  private int faults;
  private int layersAllowedLost;
  private int volumesRepublished;
  private int pods;
  private int volumesRecovered;
  private int volumesBrokenByHolderRestart;
  private boolean convergedInStep;

  /**
   * Seeds whose runs found a bug, each replayed as far as the step where it failed plus a margin:
   * {@code make test} runs these ({@code -Dlayerns.chaos.seed=replays}); {@code make chaos} one
   * random or given seed. A replay follows the same steps up to the cluster's own timing.
   */
  static final String REPLAYS =
      "20261129:12," // step 7: a copy pinned by a volume reading a peer's copy
          + "1055785644577201778:23," // step 18: holders deleted with their nodes, never re-fetched
          + "-8985605328298847780:26," // step 21: dedup kept the rotten copy (issue 23)
          // step 88: a dead shared remote mount reused; step 51: a layer lost with the registry
          // away, its fetch retried at once in a loop and its ownership moved between nodes
          // several times a second (FetchRetryIT, PlacementTest)
          + "8824192977769914264:92";

  @Test
  void clusterKeepsItsGuaranteesThroughRandomFaults(ControlPlane cp, @TempDir Path dir)
      throws Exception {
    KubeletMounts.assumeRootInPrivateMountNamespace();
    String seedProperty = System.getProperty("layerns.chaos.seed", "random");
    int steps = Integer.getInteger("layerns.chaos.steps", DEFAULT_STEPS);
    if (seedProperty.equals("replays")) {
      String replays = System.getProperty("layerns.chaos.replays", REPLAYS);
      for (String replay : replays.split(",")) {
        String[] seedAndSteps = replay.trim().split(":");
        long begin = System.nanoTime();
        new ChaosIT()
            .runOnce(
                cp,
                java.nio.file.Files.createDirectories(dir.resolve("replay-" + seedAndSteps[0])),
                Long.parseLong(seedAndSteps[0]),
                Integer.parseInt(seedAndSteps[1]));
        System.out.printf(
            "chaos: replay of seed %s (%s steps) passed in %d s%n",
            seedAndSteps[0], seedAndSteps[1], (System.nanoTime() - begin) / 1_000_000_000L);
      }
      return;
    }
    // "random" (make chaos) draws a seed, which is printed so that a failure can be replayed.
    runOnce(
        cp,
        dir,
        seedProperty.equals("random")
            ? new SecureRandom().nextLong()
            : Long.parseLong(seedProperty),
        steps);
  }

  private void runOnce(ControlPlane cp, Path dir, long seed, int steps) throws Exception {
    this.seed = seed;
    runStart = java.time.Instant.now().minusSeconds(1);
    random = new Random(seed);
    rot = new Random(seed ^ 0x5c2b_b17L);
    System.out.printf(
        "chaos: seed %d, %d steps, %d nodes (replay with -Dlayerns.chaos.seed=%d)%n",
        seed, steps, NODES, seed);
    long begin = System.nanoTime();
    try (ChaosCluster c = new ChaosCluster(cp, dir, new ChaosImages(IMAGES), NODES)) {
      cluster = c;
      awaitConverged();
      watch.start(cluster, () -> where());
      for (stepNo = 1; stepNo <= steps; stepNo++) {
        Kind kind = next();
        kinds.merge(kind, 1, Integer::sum);
        convergedInStep = false;
        stepText = "";
        run(kind);
        if (!convergedInStep) {
          awaitConverged();
        }
        watch.assertNoLoss();
        System.out.printf(
            "chaos: step %d/%d %s (converged in %d ms)%n",
            stepNo, steps, stepText, convergeMillis.getLast());
      }
      finish();
      watch.assertNoLoss();
      corruptEvents = corruptCopyEvents();
    } catch (AssertionError | RuntimeException e) {
      throw new AssertionError(where() + ": " + e.getMessage(), e);
    } finally {
      watch.close();
    }
    report(steps, System.nanoTime() - begin);
  }

  private String where() {
    return "chaos seed " + seed + ", step " + stepNo + " (" + stepText + ")";
  }

  // ---- the steps ------------------------------------------------------------------------------

  private Kind next() {
    List<Kind> eligible = new ArrayList<>();
    for (Kind k : Kind.values()) {
      boolean ok =
          switch (k) {
            case IMPORT -> model.inUse.size() < cluster.images.images.size();
            case UNPUBLISH -> !model.volumes.isEmpty();
            case CORRUPT -> !corruptible().isEmpty();
            default -> true;
          };
      if (ok) {
        eligible.add(k);
      }
    }
    int total = eligible.stream().mapToInt(k -> k.weight).sum();
    int pick = random.nextInt(total);
    for (Kind k : eligible) {
      pick -= k.weight;
      if (pick < 0) {
        return k;
      }
    }
    throw new IllegalStateException("no step");
  }

  private void run(Kind kind) throws Exception {
    switch (kind) {
      case IMPORT -> {
        List<ChaosImages.Image> fresh =
            cluster.images.images.stream().filter(i -> !model.inUse.contains(i)).toList();
        ChaosImages.Image image = fresh.get(random.nextInt(fresh.size()));
        stepText = "import " + image.name() + " (preload)";
        model.use(image);
        cluster.openRegistry();
        cluster.preload(image);
        awaitConverged(); // the registry is needed until the image is in
        cluster.shutRegistry();
      }
      case PUBLISH -> publish(randomNode());
      case UNPUBLISH -> {
        ChaosModel.Volume v = model.volumes.get(random.nextInt(model.volumes.size()));
        stepText = "unpublish " + v;
        unpublish(v);
      }
      case REPLICAS -> changeReplicas();
      case KILL_AGENT -> killAgent();
      case REMOVE_NODE -> removeNodes(1);
      case REMOVE_TWO_NODES -> removeNodes(2);
      case CORRUPT -> {
        List<Map.Entry<String, Digest>> candidates = corruptible();
        var pick = candidates.get(random.nextInt(candidates.size()));
        // Its own generator, so that the steps of seeds recorded before it stay the same.
        String file =
            rot.nextBoolean() && !readByAVolume(pick.getKey(), pick.getValue())
                ? cluster.corruptTree(pick.getKey(), pick.getValue(), rot.nextInt(1 << 20))
                : null;
        if (file == null) {
          stepText = "corrupt " + pick.getValue() + "'s blob on " + pick.getKey();
          List<ChaosModel.Volume> readers = readersOfCopy(pick.getKey(), pick.getValue());
          cluster.corrupt(pick.getKey(), pick.getValue());
          blobsRotted++;
          republishReadersOfScrubbedCopy(pick.getKey(), pick.getValue(), readers);
        } else {
          stepText = "corrupt " + file + " of " + pick.getValue() + " on " + pick.getKey();
          treesRotted++;
        }
        faults++;
        noteLosses(model.fail(Set.of(), Map.of(pick.getKey(), pick.getValue())));
        watch.update(model);
        if (model.replicas < 3) {
          // A new owner must fetch the layer, perhaps from the corrupt peer first.
          stepText += ", replicas " + model.replicas + " -> " + (model.replicas + 1);
          model.replicas++;
          cluster.setReplicas(model.replicas);
        }
      }
      case RESTART_OPERATOR -> {
        stepText = "restart the operator";
        cluster.restartOperator();
        faults++;
      }
      case RESTART_API_SERVER -> {
        stepText = "restart kube-apiserver";
        cluster.cp.restartApiServer();
        faults++;
      }
    }
  }

  /** Sets {@code replicas} to another of 1, 2 and 3. */
  private void changeReplicas() {
    int r = model.replicas;
    while (r == model.replicas) {
      r = 1 + random.nextInt(3);
    }
    String text = "replicas " + model.replicas + " -> " + r;
    stepText = stepText.isEmpty() ? text : stepText + ", " + text;
    model.replicas = r;
    cluster.setReplicas(r);
  }

  /**
   * Publishes a random image on {@code node} through its CSI socket, with the registry open for
   * what no peer holds (a publish brings the layers it lacks to the node).
   */
  private void publish(String node) throws IOException {
    var images = cluster.images.images;
    ChaosImages.Image image = images.get(random.nextInt(images.size()));
    boolean readOnly = random.nextBoolean();
    String text =
        "publish " + image.name() + (readOnly ? " read-only" : " writable") + " on " + node;
    stepText = stepText.isEmpty() ? text : stepText + ", " + text;
    model.use(image);
    ChaosModel.Volume v = publish(node, image, readOnly);
    model.volumes.add(v);
    republishIfItReadsRot(v);
  }

  /**
   * A volume published from a copy that rotted before its node's scrub found it shows the rot (the
   * window of the scrub period): once the scrub has taken the copy out, the kubelet would restart
   * the pod, so it is published again, and counted.
   */
  private void republishIfItReadsRot(ChaosModel.Volume v) throws IOException {
    for (int attempt = 0; attempt < 3; attempt++) {
      Map<String, Digest> rotRead = rotReadBy(v);
      if (rotRead.isEmpty()) {
        return;
      }
      // The rotten copy is gone once its folder is, or another (fetched anew, verified) stands
      // there: a re-fetch may replace it between two polls.
      Map<String, Object> rottenFolders = new LinkedHashMap<>();
      for (Map.Entry<String, Digest> e : rotRead.entrySet()) {
        rottenFolders.put(e.getKey(), folderKey(layerFolder(e.getKey(), e.getValue())));
      }
      await(v + "'s rotten copies " + rotRead + " found by their scrub")
          .atMost(ChaosNode.SCRUB_PERIOD.multipliedBy(4))
          .pollInterval(Duration.ofMillis(500))
          .until(
              () ->
                  rotRead.entrySet().stream()
                      .allMatch(
                          e -> {
                            Object now = folderKey(layerFolder(e.getKey(), e.getValue()));
                            return now == null || !now.equals(rottenFolders.get(e.getKey()));
                          }));
      // What stands at those paths now was verified when it was fetched.
      rotRead.forEach((node, d) -> model.rotten.getOrDefault(node, new HashSet<>()).remove(d));
      stepText += ", " + v + " read rot " + rotRead + " (published again after its scrub)";
      unpublish(v);
      ChaosModel.Volume again = publish(v.node(), v.image(), v.readOnly());
      model.volumes.add(again);
      volumesReadRot++;
      v = again;
    }
  }

  private Path layerFolder(String node, Digest digest) {
    return cluster.nodes.get(node).store.resolve("layers/sha256").resolve(digest.hex());
  }

  /** The folder's identity (its inode), or null when it does not exist. */
  private static Object folderKey(Path folder) {
    try {
      return java.nio.file.Files.readAttributes(
              folder, java.nio.file.attribute.BasicFileAttributes.class)
          .fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /** The rotten copies (node to layer) the volume reads, per its node's report. */
  private Map<String, Digest> rotReadBy(ChaosModel.Volume v) {
    Map<String, Digest> out = new LinkedHashMap<>();
    PublishedVolume[] reported = new PublishedVolume[1];
    await(v + " reported by its node")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .until(
            () -> {
              LayerStore s = cluster.client.resources(LayerStore.class).withName(v.node()).get();
              if (s == null || s.getStatus() == null || s.getStatus().volumes() == null) {
                return false;
              }
              for (PublishedVolume pv : s.getStatus().volumes()) {
                if (pv.volumeId().equals(v.handle().volumeId())) {
                  reported[0] = pv;
                  return true;
                }
              }
              return false;
            });
    for (VolumeLayer vl :
        reported[0].layers() == null ? List.<VolumeLayer>of() : reported[0].layers()) {
      Digest d = Digest.parse(vl.digest());
      if (model.rotten.getOrDefault(vl.readsFrom(), Set.of()).contains(d)) {
        out.put(vl.readsFrom(), d);
      }
    }
    return out;
  }

  /** The volumes that read this node's copy of the layer, per the agents' reports. */
  private List<ChaosModel.Volume> readersOfCopy(String node, Digest digest) {
    Set<String> ids = readerIds(node, digest);
    return model.volumes.stream().filter(v -> ids.contains(v.handle().volumeId())).toList();
  }

  /** The ids of the volumes that read this node's copy of the layer, per the agents' reports. */
  private Set<String> readerIds(String node, Digest digest) {
    Set<String> ids = new LinkedHashSet<>();
    for (String n : cluster.nodes.keySet()) {
      LayerStore s = cluster.client.resources(LayerStore.class).withName(n).get();
      if (s == null || s.getStatus() == null || s.getStatus().volumes() == null) {
        continue;
      }
      for (PublishedVolume v : s.getStatus().volumes()) {
        for (VolumeLayer vl : v.layers() == null ? List.<VolumeLayer>of() : v.layers()) {
          if (vl.readsFrom().equals(node) && vl.digest().equals(digest.toString())) {
            ids.add(v.volumeId());
          }
        }
      }
    }
    return ids;
  }

  /**
   * A known limit: a copy whose blob rots is taken out whole by its scrub, tree too, so the volumes
   * that read it lose it (a remote reader gets I/O errors, files vanish) until their pods restart.
   * Once the scrub has taken it out, they are published again, as the kubelet would restart them,
   * and counted.
   */
  private void republishReadersOfScrubbedCopy(
      String node, Digest digest, List<ChaosModel.Volume> readers) throws IOException {
    if (readers.isEmpty()) {
      return;
    }
    await(node + "'s scrub takes out its rotten copy of " + digest)
        .atMost(ChaosNode.SCRUB_PERIOD.multipliedBy(6))
        .pollInterval(Duration.ofMillis(500))
        .until(() -> blobGoneOrGood(node, digest));
    for (ChaosModel.Volume v : readers) {
      unpublish(v);
      model.volumes.add(publish(v.node(), v.image(), v.readOnly()));
      volumesLostToScrub++;
    }
    stepText += ", " + readers.size() + " volumes that read it published again after its scrub";
  }

  /** Whether the node's blob of the layer is gone, or a good one again (fetched anew). */
  private boolean blobGoneOrGood(String node, Digest digest) throws IOException {
    Path blob = cluster.nodes.get(node).store.resolve("blobs/sha256").resolve(digest.hex());
    try (var in = java.nio.file.Files.newInputStream(blob)) {
      var sha = java.security.MessageDigest.getInstance("SHA-256");
      new java.security.DigestInputStream(in, sha).readAllBytes();
      return java.util.HexFormat.of().formatHex(sha.digest()).equals(digest.hex());
    } catch (java.nio.file.NoSuchFileException e) {
      return true;
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whether a published volume reads this node's copy of the layer, per the agents' reports. */
  private boolean readByAVolume(String node, Digest digest) {
    return !readerIds(node, digest).isEmpty();
  }

  private ChaosModel.Volume publish(String node, ChaosImages.Image image, boolean readOnly)
      throws IOException {
    cluster.openRegistry();
    try {
      var handle =
          cluster
              .nodes
              .get(node)
              .csi()
              .publish(cluster.reference(image), "pod-" + ++pods, readOnly);
      return new ChaosModel.Volume(node, image, handle, readOnly);
    } finally {
      cluster.shutRegistry();
    }
  }

  private void unpublish(ChaosModel.Volume v) throws IOException {
    cluster.nodes.get(v.node()).csi().unpublish(v.handle());
    model.volumes.remove(v);
    if (MountTable.isMountPoint(v.handle().target())) {
      throw new AssertionError("volume " + v + " still mounted after NodeUnpublishVolume");
    }
  }

  /**
   * SIGKILLs one agent; while it is down, another step may happen elsewhere (a publish, an
   * unpublish, a replicas change); then the agent starts again on the same disk.
   */
  private void killAgent() throws Exception {
    String node = randomNode();
    stepText = "kill -9 " + node;
    faults++;
    List<ChaosModel.Volume> readers = readersOf(Set.of(node));
    cluster.nodes.get(node).kill();
    switch (random.nextInt(4)) {
      case 0 -> {
        List<String> others = cluster.nodes.keySet().stream().filter(n -> !n.equals(node)).toList();
        publish(others.get(random.nextInt(others.size())));
      }
      case 1 -> changeReplicas();
      default -> {}
    }
    cluster.nodes.get(node).startPlugin(cluster.cp);
    stepText += ", restart " + node;
    repairReadersOfRestartedHolder(node, readers);
  }

  /** How long a volume reading through a restarted holder's export may take to read again. */
  static final Duration HOLDER_RESTART_RECOVERY = Duration.ofSeconds(30);

  /**
   * Volumes on other nodes that read a copy through the killed agent's SFTP export must read again
   * within {@link #HOLDER_RESTART_RECOVERY} of its restart (sshfs reconnects by itself; the time
   * each took is recorded). The stated limit: a volume whose sshfs mount does not come back is
   * broken, and then its node must report it (the {@code RemoteMountsHealthy} condition False,
   * naming the restarted holder), which the test checks before it publishes the volume again, as
   * the kubelet would restart the pod. A broken volume that nobody reports fails the run.
   */
  private void repairReadersOfRestartedHolder(String holder, List<ChaosModel.Volume> readers)
      throws IOException {
    List<ChaosModel.Volume> broken = new ArrayList<>();
    for (ChaosModel.Volume v : readers) {
      long start = System.nanoTime();
      try {
        await(v + " reads again")
            .atMost(HOLDER_RESTART_RECOVERY)
            .pollInterval(Duration.ofMillis(250))
            .until(() -> v.image().view().equals(safeView(v)));
        volumesRecovered++;
        holderRestartRecoveryMillis.add((System.nanoTime() - start) / 1_000_000);
      } catch (ConditionTimeoutException e) {
        broken.add(v);
      }
    }
    for (ChaosModel.Volume v : broken) {
      stepText += ", " + v + ": " + sshfsHealth(v.node());
      try {
        await(v.node() + " reports a dead remote mount from " + holder)
            .atMost(Duration.ofSeconds(90))
            .pollInterval(Duration.ofMillis(500))
            .until(() -> reportsDeadMountFrom(v.node(), holder));
      } catch (ConditionTimeoutException e) {
        throw new AssertionError(
            v
                + " did not read again within "
                + HOLDER_RESTART_RECOVERY
                + " of "
                + holder
                + "'s restart, and "
                + v.node()
                + " does not report a dead remote mount from it",
            e);
      }
      unpublish(v);
      model.volumes.add(publish(v.node(), v.image(), v.readOnly()));
      volumesBrokenByHolderRestart++;
    }
    if (!readers.isEmpty()) {
      stepText +=
          ", "
              + (readers.size() - broken.size())
              + " volumes reading from it recovered, "
              + broken.size()
              + " did not (reported dead, published again)";
    }
  }

  private boolean reportsDeadMountFrom(String node, String holder) {
    LayerStore s = cluster.client.resources(LayerStore.class).withName(node).get();
    if (s == null || s.getStatus() == null || s.getStatus().conditions() == null) {
      return false;
    }
    return s.getStatus().conditions().stream()
        .anyMatch(
            c ->
                c.getType().equals(io.layerns.csi.agent.NodeAgent.REMOTE_MOUNTS_HEALTHY)
                    && c.getStatus().equals("False")
                    && (c.getMessage().contains("node " + holder + " (")
                        || c.getMessage().contains(" more;")));
  }

  /**
   * Whether the node's sshfs mounts themselves answer, to tell a dead mount from a dead overlay.
   */
  private String sshfsHealth(String node) throws IOException {
    List<MountTable.Entry> mounts =
        MountTable.mountsUnder(cluster.nodes.get(node).dir).stream()
            .filter(e -> e.fsType().equals("fuse.sshfs"))
            .toList();
    int readable = 0;
    for (MountTable.Entry e : mounts) {
      try (var list = java.nio.file.Files.list(Path.of(e.mountPoint()))) {
        list.count();
        readable++;
      } catch (IOException | RuntimeException ex) {
        // a dead mount: counted by the difference
      }
    }
    return readable + " of its " + mounts.size() + " sshfs mounts readable";
  }

  private static java.util.SortedMap<String, String> safeView(ChaosModel.Volume v) {
    try {
      return KubeletHarnessIT.view(v.handle().target());
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Removes {@code count} nodes at once, disks and all, and joins as many fresh ones. Volumes on
   * other nodes that read a removed node's copy lose it (a dead remote mount is not repaired): the
   * kubelet would restart their pods, so they are published again.
   */
  private void removeNodes(int count) throws Exception {
    List<String> names = new ArrayList<>(cluster.nodes.keySet());
    Set<String> gone = new LinkedHashSet<>();
    while (gone.size() < count) {
      gone.add(names.get(random.nextInt(names.size())));
    }
    stepText = "remove " + gone;
    faults += count;
    List<ChaosModel.Volume> orphaned = readersOf(gone);
    noteLosses(model.fail(gone, Map.of()));
    watch.update(model);
    for (String n : gone) {
      cluster.remove(n);
      model.volumes.removeIf(v -> v.node().equals(n));
      model.rotten.remove(n);
    }
    for (int i = 0; i < count; i++) {
      stepText += ", join " + cluster.join().name;
    }
    for (ChaosModel.Volume v : orphaned) {
      unpublish(v);
      model.volumes.add(publish(v.node(), v.image(), v.readOnly()));
      volumesRepublished++;
    }
    if (!orphaned.isEmpty()) {
      stepText += ", republish " + orphaned.size() + " volumes that read from them";
    }
  }

  /** Volumes on other nodes that read a copy on one of {@code nodes}, per the agents' reports. */
  private List<ChaosModel.Volume> readersOf(Set<String> nodes) {
    Set<String> ids = new LinkedHashSet<>();
    for (String n : cluster.nodes.keySet()) {
      LayerStore s = cluster.client.resources(LayerStore.class).withName(n).get();
      if (nodes.contains(n)
          || s == null
          || s.getStatus() == null
          || s.getStatus().volumes() == null) {
        continue;
      }
      for (PublishedVolume v : s.getStatus().volumes()) {
        if (v.layers() != null
            && v.layers().stream().map(VolumeLayer::readsFrom).anyMatch(nodes::contains)) {
          ids.add(v.volumeId());
        }
      }
    }
    return model.volumes.stream().filter(v -> ids.contains(v.handle().volumeId())).toList();
  }

  /** Verified copies of layers with another verified copy elsewhere, by node then digest. */
  private List<Map.Entry<String, Digest>> corruptible() {
    try {
      ChaosObservation o = observe();
      Map<Digest, Integer> good = new LinkedHashMap<>();
      o.disks()
          .values()
          .forEach(d -> d.forEach((k, c) -> good.merge(k, c.verified() ? 1 : 0, Integer::sum)));
      List<Map.Entry<String, Digest>> out = new ArrayList<>();
      o.disks()
          .forEach(
              (node, copies) ->
                  copies.forEach(
                      (d, c) -> {
                        if (c.verified() && good.get(d) >= 2) {
                          out.add(Map.entry(node, d));
                        }
                      }));
      return out;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private String randomNode() {
    List<String> names = new ArrayList<>(cluster.nodes.keySet());
    return names.get(random.nextInt(names.size()));
  }

  private void noteLosses(Set<Digest> lost) {
    layersAllowedLost += lost.size();
    if (!lost.isEmpty()) {
      stepText += " (every verified copy of " + lost.size() + " layers failed at once)";
    }
  }

  // ---- convergence and the end ----------------------------------------------------------------

  private ChaosObservation observe() throws IOException {
    return ChaosObservation.take(
        cluster.client,
        ChaosCluster.NAMESPACE,
        cluster.nodes.values(),
        model.volumes,
        cluster.images);
  }

  /** Waits until the cluster converges; a corrupt copy fails at once, anything else at the end. */
  private void awaitConverged() {
    long start = System.nanoTime();
    ChaosModel.Verdict[] last = new ChaosModel.Verdict[1];
    try {
      await("convergence")
          .atMost(CONVERGE)
          .pollDelay(Duration.ZERO)
          .pollInterval(Duration.ofMillis(300))
          .until(
              () -> {
                ChaosModel.Verdict v =
                    model.check(observe(), cluster.nodes.keySet(), cluster.images.blobSizes);
                last[0] = v;
                if (!v.violations().isEmpty()) {
                  throw new AssertionError(where() + ": " + String.join("; ", v.violations()));
                }
                return v.converged();
              });
    } catch (ConditionTimeoutException e) {
      throw new AssertionError(
          where()
              + ": not converged after "
              + CONVERGE
              + ":\n  "
              + String.join("\n  ", last[0] == null ? List.of("no observation") : last[0].unmet())
              + "\n"
              + logs(),
          e);
    }
    convergeMillis.add((System.nanoTime() - start) / 1_000_000);
    convergedInStep = true;
    watch.update(model);
    copiesVerified += last[0].copiesVerified();
    volumesChecked += last[0].volumes();
  }

  private String logs() {
    StringBuilder b = new StringBuilder();
    for (ChaosNode n : cluster.nodes.values()) {
      b.append("--- ")
          .append(n.name)
          .append(" plugin log tail:\n")
          .append(n.logTail(15))
          .append('\n');
    }
    return b.toString();
  }

  /**
   * The end: the registry comes back (layers lost to a multiple failure are fetched again from it),
   * every volume goes, and the namespace must show no under-replicated and no lost layer, and
   * replicas x unique bytes stored.
   */
  private void finish() throws Exception {
    stepText = "final: registry back, every volume unpublished";
    cluster.openRegistry();
    for (ChaosModel.Volume v : List.copyOf(model.volumes)) {
      unpublish(v);
    }
    // A lost layer with a registry source must come back from it; one without (it came only
    // through publishes) must be reported Lost, as the design promises, and is then not expected.
    for (Digest d : List.copyOf(model.mayBeLost)) {
      Layer layer = layer(d);
      if (layer == null
          || layer.getSpec().sources() == null
          || layer.getSpec().sources().isEmpty()) {
        await(d + " reported Lost")
            .atMost(CONVERGE)
            .pollInterval(Duration.ofMillis(300))
            .until(() -> isReportedLost(layer(d)));
        model.lostWithoutSource.add(d);
      }
    }
    if (!model.lostWithoutSource.isEmpty()) {
      stepText +=
          " ("
              + model.lostWithoutSource.size()
              + " lost layers had no registry source and are reported Lost)";
    }
    model.mayBeLost.clear(); // the others must be back now
    awaitConverged();
    // Every copy the test rotted and no drop took away is found by its node's scrub.
    await("the scrubs find the rot left on " + model.rotten)
        .atMost(ChaosNode.SCRUB_PERIOD.multipliedBy(6))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> {
              model.check(observe(), cluster.nodes.keySet(), cluster.images.blobSizes);
              return model.rotten.values().stream().allMatch(Set::isEmpty);
            });
    awaitConverged();
  }

  private Layer layer(Digest d) {
    return cluster
        .client
        .resources(Layer.class)
        .withName(CrdConstants.layerName(d.toString()))
        .get();
  }

  /**
   * Lost per its status, or already deleted: the operator deletes a Layer with no source only after
   * it has had no holder for the cleanup grace.
   */
  private static boolean isReportedLost(Layer layer) {
    return layer == null
        || (layer.getStatus() != null
            && Conditions.isTrue(layer.getStatus().conditions(), LayerAggregator.LOST));
  }

  private void report(int steps, long nanos) throws IOException {
    List<Long> sorted = convergeMillis.stream().sorted().toList();
    long median = sorted.get(sorted.size() / 2);
    long max = sorted.getLast();
    int refusals = corruptRefusals();
    System.out.printf(
        "chaos: seed %d, %d steps in %d s; steps by kind %s; %d faults injected; "
            + "%d layers in use, %d verified copies checked, %d volume checks, %d volumes republished "
            + "after their remote holder was removed; volumes reading through a killed agent's "
            + "export: %d recovered after its restart, %d did not (published again); %d layers had every verified copy fail at once "
            + "(allowed to be lost; at the end those with a registry source were fetched again, "
            + "%d without one were reported Lost); "
            + "%d fetches refused a corrupt peer's bytes; rot injected in %d blobs and %d unpacked"
            + " files, %d CorruptCopy events (copies that failed their scrub), %d volumes that"
            + " read a copy whose blob rotted published again after its scrub, %d volumes read rot before the scrub found it (published again); "
            + "%d disk scans found no moment a watched layer had no copy; recovery after a holder's"
            + " restart %s ms; converged in median %d ms, max %d ms%n",
        seed,
        steps,
        nanos / 1_000_000_000L,
        kinds,
        faults,
        model.expectedLayers().size(),
        copiesVerified,
        volumesChecked,
        volumesRepublished,
        volumesRecovered,
        volumesBrokenByHolderRestart,
        layersAllowedLost,
        model.lostWithoutSource.size(),
        refusals,
        blobsRotted,
        treesRotted,
        corruptEvents,
        volumesLostToScrub,
        volumesReadRot,
        watch.scans(),
        holderRestartRecoveryMillis.stream().sorted().toList(),
        median,
        max);
  }

  /** The Warning events of copies that failed verification, from the API server. */
  private long corruptCopyEvents() {
    return cluster.client.events().v1().events().inAnyNamespace().list().getItems().stream()
        .filter(e -> io.layerns.csi.agent.NodeAgent.CORRUPT_COPY.equals(e.getReason()))
        .filter(
            e ->
                !java.time.Instant.parse(e.getMetadata().getCreationTimestamp()).isBefore(runStart))
        .count();
  }

  /** How often an agent refused a peer's bytes that did not match their digest. */
  private int corruptRefusals() throws IOException {
    int count = cluster.removedRefusals;
    for (ChaosNode n : cluster.nodes.values()) {
      count += n.corruptRefusals();
    }
    return count;
  }
}
