package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.registry.ScriptedRegistry.Manifest;
import io.layerns.csi.registry.TestImage.Compression;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A corpus of hostile manifests, indexes and configs, served over HTTP by a registry that says
 * whatever it is told: each is refused with a message naming the problem, nothing of it lands in
 * the store (no blob, no layer, no tag, tmp/ empty), and a good image imports right after.
 */
class HostileManifestTest {
  private static final String REPO = "team/hostile";
  private static final String GOOD_REPO = "team/good";
  private static final String OCI = MediaTypes.OCI_MANIFEST;
  private static final String GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

  /** The honest parts the hostile documents are made of: one gzip layer and its config. */
  private static final TestImage.Layer LAYER =
      TestImage.Layer.of(Compression.GZIP, Map.of("etc/hostile", "only here to be refused\n"));

  private static final byte[] CONFIG = config("\"" + LAYER.diffId() + "\"");

  private static final TestImage GOOD = TestImage.threeLayers("good", Platform.LINUX_AMD64);

  private static ScriptedRegistry registry;

  @TempDir Path tmp;
  private LocalLayerStore store;
  private ImageImporter importer;

  /** One hostile registry answer and the words the refusal must contain. */
  record Case(String title, Function<ScriptedRegistry, String> serve, List<String> expected) {
    @Override
    public String toString() {
      return title;
    }
  }

  @BeforeAll
  static void startRegistry() throws IOException {
    registry = ScriptedRegistry.start();
  }

  @AfterAll
  static void stopRegistry() {
    registry.close();
  }

  @BeforeEach
  void openStore() throws IOException {
    registry.clear();
    store = LocalLayerStore.open(tmp.resolve("store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
  }

  @AfterEach
  void closeStore() throws IOException {
    store.close();
  }

  @ParameterizedTest(name = "[refused] {0}")
  @MethodSource("corpus")
  void refusedWithTheProblemNamedNothingStoredAndAGoodImageStillImports(Case c) throws IOException {
    ImageReference hostile =
        ImageReference.parse(registry.host() + "/" + REPO + c.serve().apply(registry));

    assertThatThrownBy(() -> importer.pull(hostile, DockerConfig.EMPTY))
        .isInstanceOf(IOException.class)
        .message()
        .contains(c.expected());

    // A manifest without end is cut off after the limit, not read into memory whole.
    assertThat(registry.streamedBytesSent()).isLessThan(64L << 20);
    Path root = store.root();
    assertThat(entries(root.resolve("blobs/sha256"))).as("blobs").isEmpty();
    assertThat(entries(root.resolve("layers/sha256"))).as("layers").isEmpty();
    assertThat(entries(root.resolve("tmp"))).as("tmp/").isEmpty();
    assertThat(entries(root.resolve("refs"))).as("tags").isEmpty();
    assertThat(importer.findLocal(hostile)).isEmpty();

    registry.push(GOOD_REPO, GOOD, "v1");
    PulledImage good =
        importer.pull(
            ImageReference.parse(registry.host() + "/" + GOOD_REPO + ":v1"), DockerConfig.EMPTY);
    assertThat(good.layers()).hasSize(3);
    assertThat(
            Files.readString(
                store
                    .layer(GOOD.layers().getFirst().digest())
                    .orElseThrow()
                    .directory()
                    .resolve("bin/hello")))
        .isEqualTo("hello good");
  }

  static Stream<Case> corpus() {
    String layer = layer(GZIP_LAYER, LAYER.digest().toString(), LAYER.blob().length);
    String config = configDescriptor(Digest.of(CONFIG).toString(), CONFIG.length);
    byte[] good = manifest(config, "[" + layer + "]");
    return Stream.of(
        // ---- the manifest document itself
        byTag("manifest is not JSON", OCI, bytes("{\"schemaVersion\":2,"), "is not valid JSON"),
        byTag("manifest is a JSON array", OCI, bytes("[1,2,3]"), "is not a JSON object"),
        byTag("manifest is empty", OCI, bytes(""), "is not a JSON object"),
        byTag(
            "manifest has no schemaVersion",
            OCI,
            bytes(
                "{\"mediaType\":\""
                    + OCI
                    + "\",\"config\":"
                    + config
                    + ",\"layers\":["
                    + layer
                    + "]}"),
            "has no schemaVersion"),
        byTag(
            "schemaVersion 1 (a Docker v1 signed manifest)",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            bytes("{\"schemaVersion\":1,\"name\":\"team/hostile\",\"fsLayers\":[]}"),
            "manifest schemaVersion 1 is not supported"),
        byTag(
            "schemaVersion is a string that is not a number",
            OCI,
            bytes("{\"schemaVersion\":\"two\",\"config\":" + config + "}"),
            "manifest schemaVersion \"two\" is not supported"),
        byTag(
            "unknown manifest media type",
            "application/vnd.example.evil+json",
            bytes(
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.evil+json\","
                    + "\"config\":"
                    + config
                    + ",\"layers\":["
                    + layer
                    + "]}"),
            "manifest media type application/vnd.example.evil+json is not supported"),
        byTag(
            "no config",
            OCI,
            bytes("{\"schemaVersion\":2,\"mediaType\":\"" + OCI + "\",\"layers\":[" + layer + "]}"),
            "the image manifest has no config"),
        byTag(
            "config is a string",
            OCI,
            manifest("\"" + Digest.of(CONFIG) + "\"", "[" + layer + "]"),
            "the image manifest has no config"),
        byTag(
            "no layers field",
            OCI,
            bytes("{\"schemaVersion\":2,\"mediaType\":\"" + OCI + "\",\"config\":" + config + "}"),
            "the image manifest has no layers"),
        byTag(
            "empty layers array", OCI, manifest(config, "[]"), "the image manifest has no layers"),
        byTag(
            "layers is a string, not an array",
            OCI,
            manifest(config, "\"" + LAYER.digest() + "\""),
            "the image manifest has no layers"),
        byTag(
            "a layer descriptor is a number",
            OCI,
            manifest(config, "[42]"),
            "a layer descriptor is not a JSON object"),
        // ---- digests
        byTag(
            "layer digest is a path",
            OCI,
            manifest(config, "[" + layer(GZIP_LAYER, "../../../etc/passwd", 10) + "]"),
            "layer descriptor digest \"../../../etc/passwd\" is not a sha256 digest"),
        byTag(
            "layer digest is sha512",
            OCI,
            manifest(config, "[" + layer(GZIP_LAYER, "sha512:" + "ab".repeat(64), 10) + "]"),
            "layer descriptor digest \"sha512:abab",
            "is not a sha256 digest"),
        byTag(
            "layer digest has upper-case hex",
            OCI,
            manifest(
                config,
                "[" + layer(GZIP_LAYER, "sha256:" + LAYER.digest().hex().toUpperCase(), 10) + "]"),
            "is not a sha256 digest"),
        byTag(
            "layer digest is 63 hex digits",
            OCI,
            manifest(
                config,
                "[" + layer(GZIP_LAYER, "sha256:" + LAYER.digest().hex().substring(1), 10) + "]"),
            "is not a sha256 digest"),
        byTag(
            "config has no digest",
            OCI,
            manifest(
                "{\"mediaType\":\"" + MediaTypes.OCI_CONFIG + "\",\"size\":10}", "[" + layer + "]"),
            "config descriptor digest \"\" is not a sha256 digest"),
        byTag(
            "a 10 KB digest is cut short in the message",
            OCI,
            manifest(config, "[" + layer(GZIP_LAYER, "sha256:" + "a".repeat(10_000), 10) + "]"),
            "(10007 chars)\" is not a sha256 digest"),
        // ---- sizes
        byTag(
            "negative layer size",
            OCI,
            manifest(config, "[" + layer(GZIP_LAYER, LAYER.digest().toString(), -1) + "]"),
            "layer descriptor " + LAYER.digest() + " has no valid size",
            ": -1"),
        byTag(
            "layer size is a string",
            OCI,
            manifest(config, "[" + layerRawSize(LAYER.digest(), "\"12\"") + "]"),
            "has no valid size",
            ": \"12\""),
        byTag(
            "layer size is a fraction",
            OCI,
            manifest(config, "[" + layerRawSize(LAYER.digest(), "1.5") + "]"),
            "has no valid size",
            ": 1.5"),
        byTag(
            "layer size beyond 2^63",
            OCI,
            manifest(config, "[" + layerRawSize(LAYER.digest(), "99999999999999999999999") + "]"),
            "has no valid size"),
        byTag(
            "layer size of 2^62 bytes, more than the disk",
            OCI,
            manifest(config, "[" + layer(GZIP_LAYER, LAYER.digest().toString(), 1L << 62) + "]"),
            "(1 layers not held here, the largest "
                + LAYER.digest()
                + " of "
                + (1L << 62)
                + " bytes) needs "
                + (1L << 62)
                + " bytes",
            "bytes free (ENOSPC): not downloading it"),
        byTag(
            "config size over 16 MiB",
            OCI,
            manifest(configDescriptor(Digest.of(CONFIG).toString(), 1L << 40), "[" + layer + "]"),
            "the config descriptor gives a size of 1099511627776 bytes, more than the 16777216"),
        byTag(
            "config size smaller than its bytes",
            OCI,
            manifest(configDescriptor(Digest.of(CONFIG).toString(), 10), "[" + layer + "]"),
            "the manifest gives config "
                + Digest.of(CONFIG)
                + " a size of 10 bytes but it has "
                + CONFIG.length),
        byTag(
            "layer blob shorter than its descriptor says",
            OCI,
            manifest(
                config,
                "["
                    + layer(GZIP_LAYER, LAYER.digest().toString(), LAYER.blob().length + 100)
                    + "]"),
            "blob "
                + LAYER.digest()
                + " ended after "
                + LAYER.blob().length
                + " bytes but its descriptor gives "
                + (LAYER.blob().length + 100)),
        byTag(
            "layer blob longer than its descriptor says",
            OCI,
            manifest(
                config,
                "["
                    + layer(GZIP_LAYER, LAYER.digest().toString(), LAYER.blob().length - 100)
                    + "]"),
            "blob "
                + LAYER.digest()
                + " is longer than the "
                + (LAYER.blob().length - 100)
                + " bytes"),
        // ---- too much
        new Case(
            "manifest larger than 4 MiB is not read whole",
            r -> {
              r.manifest(REPO, "v1", new Manifest(OCI, null, null, 1L << 30));
              return ":v1";
            },
            List.of("manifest v1 is larger than 4194304 bytes")),
        byTag(
            "3,000 layers",
            OCI,
            manifest(
                config,
                IntStream.range(0, 3000)
                    .mapToObj(i -> layer)
                    .collect(Collectors.joining(",", "[", "]"))),
            "the image manifest has 3000 layers, more than the 500 an overlay mount can stack"),
        // ---- media types of layers
        byTag(
            "encrypted layer",
            OCI,
            manifest(
                config,
                "["
                    + layer(
                        GZIP_LAYER + "+encrypted", LAYER.digest().toString(), LAYER.blob().length)
                    + "]"),
            "has media type "
                + GZIP_LAYER
                + "+encrypted, which is not a layer this node can unpack"),
        byTag(
            "a Helm chart's layer",
            OCI,
            manifest(
                config,
                "["
                    + layer(
                        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        LAYER.digest().toString(),
                        LAYER.blob().length)
                    + "]"),
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip, which is not a layer"),
        // ---- indexes
        new Case(
            "index points to itself",
            r -> {
              Digest self = Digest.of(bytes("the index's own digest cannot be inside it"));
              byte[] index = index(indexEntry(self, 500, "linux", "amd64"));
              r.manifest(REPO, "v1", Manifest.of(MediaTypes.OCI_INDEX, index));
              r.manifest(REPO, self.toString(), Manifest.of(MediaTypes.OCI_INDEX, index));
              return ":v1";
            },
            List.of(
                "has digest "
                    + Digest.of(
                        index(
                            indexEntry(
                                Digest.of(bytes("the index's own digest cannot be inside it")),
                                500,
                                "linux",
                                "amd64"))))),
        new Case(
            "indexes nested three deep",
            r -> {
              byte[] m = good;
              r.manifest(REPO, Digest.of(m).toString(), Manifest.of(OCI, m));
              byte[] inner = index(indexEntry(Digest.of(m), m.length, "linux", "amd64"));
              r.manifest(
                  REPO, Digest.of(inner).toString(), Manifest.of(MediaTypes.OCI_INDEX, inner));
              byte[] middle = index(indexEntry(Digest.of(inner), inner.length, "linux", "amd64"));
              r.manifest(
                  REPO, Digest.of(middle).toString(), Manifest.of(MediaTypes.OCI_INDEX, middle));
              byte[] outer = index(indexEntry(Digest.of(middle), middle.length, "linux", "amd64"));
              r.manifest(REPO, "v1", Manifest.of(MediaTypes.OCI_INDEX, outer));
              return ":v1";
            },
            List.of("indexes nest deeper than 2")),
        byTag(
            "index with no manifests",
            MediaTypes.OCI_INDEX,
            bytes(
                "{\"schemaVersion\":2,\"mediaType\":\""
                    + MediaTypes.OCI_INDEX
                    + "\",\"manifests\":[]}"),
            "the image index has no manifests"),
        byTag(
            "index with no entry for the node's platform",
            MediaTypes.OCI_INDEX,
            index(
                indexEntry(Digest.of(good), good.length, "windows", "amd64"),
                indexEntry(Digest.of(good), good.length, "linux", "s390x")),
            "no manifest for platform linux/amd64",
            "(it has [windows/amd64, linux/s390x])"),
        byTag(
            "index entry size over 4 MiB",
            MediaTypes.OCI_INDEX,
            index(indexEntry(Digest.of(good), 1L << 33, "linux", "amd64")),
            "index entry "
                + Digest.of(good)
                + " gives a size of 8589934592 bytes, more than the 4194304"),
        new Case(
            "index entry size disagrees with the manifest's bytes",
            r -> {
              r.manifest(REPO, Digest.of(good).toString(), Manifest.of(OCI, good));
              r.manifest(
                  REPO,
                  "v1",
                  Manifest.of(
                      MediaTypes.OCI_INDEX,
                      index(indexEntry(Digest.of(good), good.length + 1, "linux", "amd64"))));
              return ":v1";
            },
            List.of(
                "the index gives manifest "
                    + Digest.of(good)
                    + " a size of "
                    + (good.length + 1)
                    + " bytes but it has "
                    + good.length)),
        // ---- digests that lie
        new Case(
            "manifest bytes differ from the requested digest",
            r -> {
              Digest asked = Digest.of(bytes("what the pod asked for"));
              r.manifest(REPO, asked.toString(), Manifest.of(OCI, good));
              return "@" + asked;
            },
            List.of(
                "manifest " + Digest.of(bytes("what the pod asked for")) + ": the content",
                "has digest " + Digest.of(good))),
        new Case(
            "Docker-Content-Digest header disagrees with the bytes",
            r -> {
              r.manifest(REPO, "v1", new Manifest(OCI, LAYER.digest().toString(), good, 0));
              return ":v1";
            },
            List.of("manifest v1 was served as " + LAYER.digest() + " but its content has digest")),
        new Case(
            "config bytes differ from the config digest",
            r -> {
              r.manifest(REPO, "v1", Manifest.of(OCI, good));
              r.blob(
                  REPO,
                  Digest.of(CONFIG),
                  config("\"" + LAYER.diffId() + "\",\"" + LAYER.diffId() + "\""));
              return ":v1";
            },
            List.of("config " + Digest.of(CONFIG) + ": the content", "has digest")),
        // ---- configs
        config("config is not JSON", bytes("<config/>"), "the image config is not valid JSON"),
        config(
            "config has no rootfs.diff_ids (an OCI artifact, not an image)",
            bytes("{\"architecture\":\"amd64\",\"os\":\"linux\"}"),
            "the image config has no rootfs.diff_ids"),
        config(
            "config diff ID is not a digest",
            config("\"../../etc/shadow\""),
            "the image config's diff ID \"../../etc/shadow\" is not a sha256 digest"),
        config(
            "config lists more diff IDs than the manifest has layers",
            config("\"" + LAYER.diffId() + "\",\"" + LAYER.diffId() + "\""),
            "the manifest has 1 layers but the config lists 2 diff IDs"),
        config(
            "config diff ID is not the layer's",
            config("\"" + Digest.of(bytes("another tar")) + "\""),
            "but the image config says " + Digest.of(bytes("another tar"))));
  }

  // ---- case builders ---------------------------------------------------------------------------

  /** A manifest served for tag v1, with the layer and config blobs honest. */
  private static Case byTag(String title, String contentType, byte[] manifest, String... expected) {
    return new Case(
        title,
        r -> {
          r.manifest(REPO, "v1", Manifest.of(contentType, manifest));
          r.blob(REPO, LAYER.digest(), LAYER.blob());
          r.blob(REPO, Digest.of(CONFIG), CONFIG);
          return ":v1";
        },
        List.of(expected));
  }

  /** An honest manifest whose config is {@code config}. */
  private static Case config(String title, byte[] config, String... expected) {
    return new Case(
        title,
        r -> {
          byte[] m =
              manifest(
                  configDescriptor(Digest.of(config).toString(), config.length),
                  "[" + layer(GZIP_LAYER, LAYER.digest().toString(), LAYER.blob().length) + "]");
          r.manifest(REPO, "v1", Manifest.of(OCI, m));
          r.blob(REPO, LAYER.digest(), LAYER.blob());
          r.blob(REPO, Digest.of(config), config);
          return ":v1";
        },
        List.of(expected));
  }

  private static byte[] manifest(String config, String layers) {
    return bytes(
        "{\"schemaVersion\":2,\"mediaType\":\""
            + OCI
            + "\",\"config\":"
            + config
            + ",\"layers\":"
            + layers
            + "}");
  }

  private static String configDescriptor(String digest, long size) {
    return "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}"
        .formatted(MediaTypes.OCI_CONFIG, digest, size);
  }

  private static String layer(String mediaType, String digest, long size) {
    return "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}"
        .formatted(mediaType, digest, size);
  }

  private static String layerRawSize(Digest digest, String size) {
    return "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%s}"
        .formatted(GZIP_LAYER, digest, size);
  }

  private static byte[] config(String diffIds) {
    return bytes(
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
            + diffIds
            + "]}}");
  }

  private static String indexEntry(Digest digest, long size, String os, String arch) {
    return ("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d,"
            + "\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"}}")
        .formatted(OCI, digest, size, os, arch);
  }

  private static byte[] index(String... entries) {
    return bytes(
        "{\"schemaVersion\":2,\"mediaType\":\""
            + MediaTypes.OCI_INDEX
            + "\",\"manifests\":["
            + String.join(",", entries)
            + "]}");
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static List<String> entries(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).toList();
    }
  }
}
