package io.layerns.system;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One look at the chaos cluster: what each node's disk holds (every copy re-hashed and its unpacked
 * tree compared with the layer's), what the API server shows (stores, Layers, the namespace), and
 * what each published volume shows.
 */
record ChaosObservation(
    Map<String, Map<Digest, Copy>> disks,
    Map<String, LayerStore> stores,
    Map<Digest, Layer> layers,
    LayerNamespace namespace,
    Map<ChaosModel.Volume, String> volumes) {

  /**
   * A copy on a node's disk.
   *
   * @param blobOk whether the blob the HTTP export serves hashes to the digest
   * @param treeOk whether the unpacked tree is the layer's, file by file
   * @param problem what differs, when something does
   */
  record Copy(boolean blobOk, boolean treeOk, String problem) {
    boolean verified() {
      return blobOk && treeOk;
    }
  }

  static ChaosObservation take(
      KubernetesClient client,
      String namespace,
      Collection<ChaosNode> nodes,
      Collection<ChaosModel.Volume> volumes,
      ChaosImages images)
      throws IOException {
    Map<String, Map<Digest, Copy>> disks = new LinkedHashMap<>();
    Map<String, LayerStore> stores = new LinkedHashMap<>();
    for (ChaosNode n : nodes) {
      disks.put(n.name, disk(n.store, images));
      stores.put(n.name, client.resources(LayerStore.class).withName(n.name).get());
    }
    Map<Digest, Layer> layers = new LinkedHashMap<>();
    for (Digest d : images.layerViews.keySet()) {
      Layer l = client.resources(Layer.class).withName(CrdConstants.layerName(d.toString())).get();
      if (l != null) {
        layers.put(d, l);
      }
    }
    Map<ChaosModel.Volume, String> views = new LinkedHashMap<>();
    for (ChaosModel.Volume v : volumes) {
      views.put(v, volumeProblem(v));
    }
    return new ChaosObservation(
        disks,
        stores,
        layers,
        client.resources(LayerNamespace.class).withName(namespace).get(),
        views);
  }

  /** Every complete layer in a store (its directory appears by an atomic rename), verified. */
  private static Map<Digest, Copy> disk(Path store, ChaosImages images) throws IOException {
    Map<Digest, Copy> out = new TreeMap<>(java.util.Comparator.comparing(Digest::toString));
    Path layers = store.resolve("layers/sha256");
    if (!Files.isDirectory(layers)) {
      return out;
    }
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(layers)) {
      for (Path dir : dirs) {
        Digest digest = new Digest(dir.getFileName().toString());
        Copy copy = verify(store, dir, digest, images);
        if (copy != null) {
          out.put(digest, copy);
        }
      }
    } catch (NoSuchFileException e) {
      // the store is being removed with its node
    }
    return out;
  }

  /** The copy's state, or null when it went away while being read (the agent dropped it). */
  private static Copy verify(Path store, Path dir, Digest digest, ChaosImages images)
      throws IOException {
    SortedMap<String, String> expected = images.layerViews.get(digest);
    try {
      Path blob = store.resolve("blobs/sha256").resolve(digest.hex());
      String hash = sha256(blob);
      boolean blobOk = hash.equals(digest.hex());
      SortedMap<String, String> tree = KubeletHarnessIT.view(dir.resolve("diff"));
      boolean treeOk = tree.equals(expected);
      String problem =
          (blobOk ? "" : "blob hashes to sha256:" + hash + "; ")
              + (treeOk
                  ? ""
                  : expected == null
                      ? "a layer of no chaos image"
                      : "tree differs: " + difference(expected, tree));
      return new Copy(blobOk, treeOk, problem);
    } catch (NoSuchFileException e) {
      return Files.exists(dir) ? new Copy(false, false, "incomplete: " + e.getMessage()) : null;
    }
  }

  private static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[64 << 10];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Null when the volume shows its image exactly, else what is wrong. */
  private static String volumeProblem(ChaosModel.Volume v) {
    try {
      SortedMap<String, String> seen = KubeletHarnessIT.view(v.handle().target());
      return seen.equals(v.image().view()) ? null : difference(v.image().view(), seen);
    } catch (IOException | RuntimeException e) {
      return "unreadable: " + e;
    }
  }

  static String difference(SortedMap<String, String> expected, SortedMap<String, String> seen) {
    List<String> missing =
        expected.keySet().stream().filter(k -> !seen.containsKey(k)).limit(5).toList();
    List<String> extra =
        seen.keySet().stream().filter(k -> !expected.containsKey(k)).limit(5).toList();
    List<String> changed =
        expected.keySet().stream()
            .filter(k -> seen.containsKey(k) && !seen.get(k).equals(expected.get(k)))
            .limit(5)
            .toList();
    return "missing " + missing + ", unexpected " + extra + ", different " + changed;
  }
}
