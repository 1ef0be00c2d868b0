package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.tar.TarLimits;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A corpus of hostile layers, each refused with a message naming the entry and the problem, with
 * nothing written outside the store's temporary space and the store still working after.
 */
class HostileLayerTest {
  /** Stands for the sentinel directory's absolute path in names and expected entries. */
  private static final String SENTINEL = "$SENTINEL";

  /** From a layer tree (root/tmp/layer-x/diff) up to the directory holding store and sentinel. */
  private static final String UP_TO_BASE = "../../../../";

  private static final UnpackLimits LIMITS =
      new UnpackLimits(1024 * 1024, 1000, new TarLimits(64 * 1024, 4096, 16, 1024));

  @TempDir Path base;
  private Path sentinel;
  private LocalLayerStore store;

  /** One hostile layer and what the refusal must say. */
  record Case(String title, Function<String, Attempt> attempt, String entry, String problem) {
    @Override
    public String toString() {
      return title;
    }
  }

  /** What is handed to the store; the digests default to the layer's true ones. */
  record Attempt(TestLayer layer, Digest digest, Digest diffId, String mediaType) {
    Attempt(TestLayer layer) {
      this(layer, layer.digest(), layer.diffId(), layer.mediaType());
    }
  }

  @BeforeEach
  void setUp() throws IOException {
    sentinel = Files.createDirectory(base.resolve("sentinel"));
    Files.writeString(sentinel.resolve("keep"), "keep");
    store = LocalLayerStore.open(base.resolve("store"), LIMITS);
  }

  @AfterEach
  void tearDown() throws IOException {
    store.close();
  }

  @ParameterizedTest(name = "[refused] {0}")
  @MethodSource("corpus")
  void refusesWithAClearMessageAndWritesNothingOutside(Case c) throws IOException {
    Attempt a = c.attempt().apply(sentinel.toString());
    Map<String, String> sentinelBefore = snapshot(sentinel);

    assertThatThrownBy(
            () ->
                store.importLayer(
                    a.digest(),
                    a.diffId(),
                    a.mediaType(),
                    new ByteArrayInputStream(a.layer().blob())))
        .isInstanceOf(LayerRefusedException.class)
        .hasMessageStartingWith(
            "layer "
                + a.digest()
                + (c.entry() == null
                    ? ": "
                    : " entry "
                        + LayerRefusedException.quote(
                            c.entry().replace(SENTINEL, sentinel.toString()))
                        + ": "))
        .hasMessageContaining(c.problem().replace(SENTINEL, sentinel.toString()));

    assertThat(snapshot(sentinel)).isEqualTo(sentinelBefore);
    try (Stream<Path> top = Files.list(base)) {
      assertThat(top.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("store", "sentinel");
    }
    assertThat(store.listLayers()).isEmpty();
    assertThat(store.hasBlob(a.digest())).isFalse();
    try (Stream<Path> tmp = Files.list(store.root().resolve("tmp"))) {
      assertThat(tmp).as("temporary work removed").isEmpty();
    }
    TestLayer good = new TarBuilder().file("ok", "still works", 0644).layer(LayerCompression.GZIP);
    StoredLayer stored =
        store.importLayer(
            good.digest(), good.diffId(), good.mediaType(), new ByteArrayInputStream(good.blob()));
    assertThat(Files.readString(stored.directory().resolve("ok"))).isEqualTo("still works");
  }

  /**
   * Past a 1 MiB allowance a layer may expand at most 1100 times what was read of its blob: a zstd
   * bomb is stopped early, while gzip, which cannot pass 1032 times, is never refused for it.
   */
  @Test
  void aZstdBombIsStoppedByItsRatioAndGzipAtItsCeilingIsNot() throws IOException {
    UnpackLimits byRatio = new UnpackLimits(64L << 30, 1000, LIMITS.tar(), 1100, 1024 * 1024, 0.10);
    try (LocalLayerStore roomy = LocalLayerStore.open(base.resolve("roomy"), byRatio)) {
      TestLayer zstd = bomb(LayerCompression.ZSTD);
      assertThatThrownBy(
              () ->
                  roomy.importLayer(
                      zstd.digest(),
                      zstd.diffId(),
                      zstd.mediaType(),
                      new ByteArrayInputStream(zstd.blob())))
          .isInstanceOf(LayerRefusedException.class)
          .hasMessageContaining("the layer expands more than 1100 times")
          .hasMessageContaining("decompression bomb");
      assertThat(roomy.listLayers()).isEmpty();

      TestLayer gzip = bomb(LayerCompression.GZIP);
      StoredLayer zeros =
          roomy.importLayer(
              gzip.digest(),
              gzip.diffId(),
              gzip.mediaType(),
              new ByteArrayInputStream(gzip.blob()));
      assertThat(Files.size(zeros.directory().resolve("zeros"))).isEqualTo(8 * 1024 * 1024);
    }
  }

  static List<Case> corpus() {
    return List.of(
        refused(
            "path traversal ../../etc/x",
            s -> tar().file(UP_TO_BASE + "sentinel/pwned", "x", 0644),
            UP_TO_BASE + "sentinel/pwned",
            "path escapes the layer root"),
        refused(
            "path traversal hidden mid-path a/../../x",
            s -> tar().file("a/../" + UP_TO_BASE + "sentinel/pwned", "x", 0644),
            "a/../" + UP_TO_BASE + "sentinel/pwned",
            "path escapes the layer root"),
        refused(
            "absolute path",
            s -> tar().file(s + "/pwned", "x", 0644),
            SENTINEL + "/pwned",
            "absolute path"),
        refused(
            "absolute symlink out of the layer, then a write through it",
            s -> tar().symlink("esc", s).file("esc/pwned", "x", 0644),
            "esc/pwned",
            "parent \"esc\" is a symlink; the unpacker never writes through one"),
        refused(
            "relative symlink out of the layer, then a write through it",
            s -> tar().symlink("up", UP_TO_BASE + "sentinel").file("up/pwned", "x", 0644),
            "up/pwned",
            "parent \"up\" is a symlink"),
        refused(
            "directory replaced by a symlink, then a write through it",
            s -> tar().dir("d", 0755).symlink("d", s).file("d/pwned", "x", 0644),
            "d/pwned",
            "parent \"d\" is a symlink"),
        refused(
            "symlink loop, then a write through it",
            s -> tar().symlink("a", "b").symlink("b", "a").file("a/x", "x", 0644),
            "a/x",
            "parent \"a\" is a symlink"),
        refused(
            "opaque marker under a symlink to outside",
            s -> tar().symlink("esc", s).opaque("esc"),
            "esc/.wh..wh..opq",
            "parent \"esc\" is a symlink"),
        refused(
            "whiteout under a symlink to outside",
            s -> tar().symlink("esc", s).whiteout("esc", "keep"),
            "esc/.wh.keep",
            "parent \"esc\" is a symlink"),
        refused(
            "hardlink to outside via ..",
            s -> tar().hardlink("h", UP_TO_BASE + "sentinel/keep"),
            "h",
            "hardlink target \"" + UP_TO_BASE + "sentinel/keep\": path escapes the layer root"),
        refused(
            "hardlink to an absolute path",
            s -> tar().hardlink("h", s + "/keep"),
            "h",
            "hardlink target \"" + SENTINEL + "/keep\": absolute path"),
        refused(
            "hardlink through a symlink to outside",
            s -> tar().symlink("esc", s).hardlink("h", "esc/keep"),
            "h",
            "hardlink target \"esc/keep\" is not an earlier file of this layer"),
        refused(
            "hardlink to a missing entry",
            s -> tar().hardlink("h", "nothing-here"),
            "h",
            "hardlink target \"nothing-here\" is not an earlier file of this layer"),
        refused(
            "hardlink to a directory",
            s -> tar().dir("d", 0755).hardlink("h", "d"),
            "h",
            "hardlink target \"d\" is not an earlier file of this layer"),
        refused(
            "device node as the layer root",
            s -> tar().device("./", TarConstants.LF_CHR, 1, 1),
            "./",
            "the layer root can only be a directory"),
        refused(
            "unsupported entry type",
            s -> tar().device("label", (byte) 'V', 0, 0),
            "label",
            "unsupported entry type 'V'"),
        refused(
            "whiteout of ..",
            s -> tar().file("a/.wh...", "", 0644),
            "a/.wh...",
            "whiteout names no file"),
        refused(
            "xattr reserved for overlayfs",
            s ->
                tar()
                    .file(
                        "d",
                        "",
                        0644,
                        e -> e.addPaxHeader("SCHILY.xattr.trusted.overlay.redirect", "/etc")),
            "d",
            "xattr trusted.overlay.redirect is reserved for overlayfs"),
        refused(
            "xattr in the trusted namespace",
            s ->
                tar()
                    .file(
                        "bin/tool",
                        "",
                        0755,
                        e -> e.addPaxHeader("SCHILY.xattr.trusted.md5sum", "x")),
            "bin/tool",
            "xattr trusted.md5sum is in the trusted namespace, which only the host's own"
                + " privileged processes may use"),
        refused(
            "xattr for the host's IMA",
            s ->
                tar()
                    .file(
                        "bin/tool",
                        "",
                        0755,
                        e -> e.addPaxHeader("SCHILY.xattr.security.ima", "\u0003sig")),
            "bin/tool",
            "xattr security.ima would be read by a security module of the host; a layer may set"
                + " only security.capability"),
        refused(
            "xattr of an unknown namespace",
            s ->
                tar()
                    .file(
                        "f",
                        "",
                        0644,
                        e -> e.addPaxHeader("SCHILY.xattr.system.sockprotoname", "x")),
            "f",
            "xattr system.sockprotoname is not one a layer may set (allowed: user.*,"
                + " security.capability, system.posix_acl_access, system.posix_acl_default)"),
        new Case(
            "NUL byte in a PAX name",
            s ->
                new Attempt(
                    TestLayer.of(
                        new RawTar()
                            .pax(Map.of("path", "a\0/../../b".getBytes(StandardCharsets.UTF_8)))
                            .file("innocent", "x")
                            .build(),
                        LayerCompression.NONE)),
            "a\0/../../b",
            "name contains a NUL byte"),
        refusedLayer(
            "long name (5000 bytes)",
            s -> tar().file("n".repeat(5000), "x", 0644),
            "name of 5000 bytes exceeds the limit of 4096 bytes"),
        refused(
            "name component longer than 255 bytes",
            s -> tar().file("dir/" + "c".repeat(300), "x", 0644),
            "dir/" + "c".repeat(300),
            "a path component is longer than 255 bytes"),
        refusedLayer(
            "huge PAX header",
            s -> tar().file("f", "x", 0644, e -> e.addPaxHeader("comment", "z".repeat(100_000))),
            "PAX header of 100"),
        refusedLayer(
            "oversized xattr value",
            s ->
                tar()
                    .file(
                        "f",
                        "x",
                        0644,
                        e -> e.addPaxHeader("SCHILY.xattr.user.big", "v".repeat(2000))),
            "xattr user.big of 2000 bytes exceeds the limit of 1024 bytes"),
        refusedLayer(
            "sparse file",
            s -> tar().file("f", "x", 0644, e -> e.addPaxHeader("GNU.sparse.major", "1")),
            "sparse files are not supported"),
        new Case(
            "decompression bomb (gzip)",
            s -> new Attempt(bomb(LayerCompression.GZIP)),
            null,
            "uncompressed size exceeds the limit of 1048576 bytes"),
        new Case(
            "decompression bomb (zstd)",
            s -> new Attempt(bomb(LayerCompression.ZSTD)),
            null,
            "uncompressed size exceeds the limit of 1048576 bytes"),
        new Case(
            "too many entries",
            s -> new Attempt(manyEntries(1001)),
            "f1000",
            "the layer has more than 1000 entries"),
        new Case(
            "truncated archive (gzip)",
            s -> {
              TestLayer whole = bigLayer(LayerCompression.GZIP);
              return new Attempt(whole.truncated(whole.blob().length / 2));
            },
            null,
            "compressed stream is corrupt or truncated"),
        new Case(
            "truncated archive (zstd)",
            s -> {
              TestLayer whole = bigLayer(LayerCompression.ZSTD);
              return new Attempt(whole.truncated(whole.blob().length / 2));
            },
            null,
            "compressed stream is corrupt or truncated"),
        new Case(
            "truncated archive (uncompressed, inside a file)",
            s -> new Attempt(bigLayer(LayerCompression.NONE).truncated(4000)),
            null,
            "archive is truncated inside a file's content"),
        new Case(
            "not a tar archive",
            s -> {
              byte[] noise = new byte[4096];
              new Random(42).nextBytes(noise);
              noise[0] = 'x'; // not a gzip or zstd magic
              return new Attempt(TestLayer.of(noise, LayerCompression.NONE));
            },
            null,
            "header checksum mismatch"),
        new Case(
            "wrong compressed digest",
            s -> {
              TestLayer layer = tar().file("f", "x", 0644).layer(LayerCompression.GZIP);
              return new Attempt(
                  layer, Digest.of("other".getBytes()), layer.diffId(), layer.mediaType());
            },
            null,
            "the blob's content has digest"),
        new Case(
            "wrong diff ID",
            s -> {
              TestLayer layer = tar().file("f", "x", 0644).layer(LayerCompression.ZSTD);
              return new Attempt(
                  layer, layer.digest(), Digest.of("other".getBytes()), layer.mediaType());
            },
            null,
            "but the image config says " + Digest.of("other".getBytes())),
        new Case(
            "encrypted layer media type",
            s -> {
              TestLayer layer = tar().file("f", "x", 0644).layer(LayerCompression.GZIP);
              return new Attempt(
                  layer,
                  layer.digest(),
                  layer.diffId(),
                  "application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
            },
            null,
            "unsupported layer media type application/vnd.oci.image.layer.v1.tar+gzip+encrypted"));
  }

  private static Case refused(
      String title, Function<String, TarBuilder> build, String entry, String problem) {
    return new Case(
        title, s -> new Attempt(build.apply(s).layer(LayerCompression.GZIP)), entry, problem);
  }

  private static Case refusedLayer(
      String title, Function<String, TarBuilder> build, String problem) {
    return new Case(
        title, s -> new Attempt(build.apply(s).layer(LayerCompression.NONE)), null, problem);
  }

  private static TarBuilder tar() {
    return new TarBuilder();
  }

  /** 8 MiB of zeros: a few kilobytes compressed, eight times the test limit unpacked. */
  private static TestLayer bomb(LayerCompression compression) {
    return tar().file("zeros", new byte[8 * 1024 * 1024], 0644).layer(compression);
  }

  private static TestLayer bigLayer(LayerCompression compression) {
    byte[] content = new byte[200_000];
    new Random(7).nextBytes(content);
    return tar().file("a", content, 0644).file("b", content, 0644).layer(compression);
  }

  private static TestLayer manyEntries(int n) {
    TarBuilder b = tar();
    for (int i = 0; i < n; i++) {
      b.file("f" + i, "", 0644);
    }
    return b.layer(LayerCompression.GZIP);
  }

  /** Every path below {@code dir} with its content (or its type), to compare before and after. */
  private static Map<String, String> snapshot(Path dir) throws IOException {
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        String key = dir.relativize(p).toString();
        m.put(
            key,
            Files.isRegularFile(p)
                ? Files.readString(p) + "@" + Files.getLastModifiedTime(p)
                : Files.isDirectory(p) ? "dir" : "other");
      }
    }
    return m;
  }
}
