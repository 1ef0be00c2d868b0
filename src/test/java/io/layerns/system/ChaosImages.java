package io.layerns.system;

import io.layerns.csi.store.Digest;
import io.layerns.system.PublishImage.Entry;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The chaos test's images: one base layer under all of them, one of three runtime layers, and one
 * or two layers of their own (one of which overrides a base file), so that images share layers as
 * real ones do. Each image and each layer knows the tree it must show, in {@link
 * KubeletHarnessIT#view}'s form.
 */
final class ChaosImages {

  /** One image: its name in the registry, its content, and what a volume of it must show. */
  record Image(String name, PublishImage content, SortedMap<String, String> view) {
    List<Digest> layers() {
      return content.layers.stream().map(PublishImage.Layer::digest).toList();
    }
  }

  final List<Image> images = new ArrayList<>();

  /** Every distinct layer, in the order the images first use them, with its unpacked tree. */
  final Map<Digest, SortedMap<String, String>> layerViews = new LinkedHashMap<>();

  /** The compressed size of each distinct layer. */
  final Map<Digest, Long> blobSizes = new LinkedHashMap<>();

  ChaosImages(int count) {
    List<Entry> base =
        List.of(
            Entry.dir("etc", 0755),
            Entry.file("etc/os-release", 0644, "ID=chaos\n"),
            Entry.file("etc/motd", 0644, "base\n"),
            Entry.dir("base", 0755),
            Entry.file("base/noise", 0644, noise("base", 24 << 10)));
    List<List<Entry>> runtimes = new ArrayList<>();
    for (int r = 0; r < 3; r++) {
      runtimes.add(
          List.of(
              Entry.dir("rt", 0755),
              Entry.dir("rt/" + r, 0755),
              Entry.file("rt/" + r + "/lib", 0755, noise("runtime-" + r, 16 << 10))));
    }
    PublishImage.Layer baseLayer = PublishImage.layer(base);
    List<PublishImage.Layer> runtimeLayers = runtimes.stream().map(PublishImage::layer).toList();
    for (int i = 0; i < count; i++) {
      List<List<Entry>> entries = new ArrayList<>();
      entries.add(base);
      entries.add(runtimes.get(i % 3));
      List<PublishImage.Layer> layers =
          new ArrayList<>(List.of(baseLayer, runtimeLayers.get(i % 3)));
      List<Entry> own =
          List.of(
              Entry.dir("app", 0755),
              Entry.file("app/name", 0644, "image-" + i + "\n"),
              Entry.file("app/noise", 0644, noise("image-" + i, 8 << 10)),
              Entry.dir("etc", 0755),
              Entry.file("etc/motd", 0644, "image " + i + "\n"));
      entries.add(own);
      layers.add(PublishImage.layer(own));
      if (i % 2 == 0) {
        List<Entry> extra =
            List.of(
                Entry.dir("app", 0755),
                Entry.dir("app/extra", 0755),
                Entry.file("app/extra/data", 0600, noise("extra-" + i, 4 << 10)));
        entries.add(extra);
        layers.add(PublishImage.layer(extra));
      }
      for (int l = 0; l < layers.size(); l++) {
        layerViews.putIfAbsent(layers.get(l).digest(), view(List.of(entries.get(l))));
        blobSizes.putIfAbsent(layers.get(l).digest(), (long) layers.get(l).blob().length);
      }
      images.add(new Image("chaos/image-" + i, PublishImage.ofLayers(layers), view(entries)));
    }
  }

  /** The merged tree of {@code layers}, lowest first: later entries replace earlier ones. */
  private static SortedMap<String, String> view(List<List<Entry>> layers) {
    SortedMap<String, String> out = new TreeMap<>();
    for (List<Entry> layer : layers) {
      for (Entry e : layer) {
        String mode = Integer.toOctalString(e.mode());
        out.put(e.path(), e.type() == 'd' ? "d " + mode : "f " + mode + " " + e.content());
      }
    }
    return out;
  }

  /** Incompressible text, the same for the same name. */
  private static String noise(String name, int bytes) {
    byte[] b = new byte[bytes / 2];
    new Random(name.hashCode()).nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
