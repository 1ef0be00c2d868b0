package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unpacks a three-layer image with the store and with {@code umoci unpack} (Debian package umoci)
 * and compares, file by file, umoci's rootfs with a read-only overlay mount of the store's layer
 * directories. Needs root; the mount lives in a private mount namespace ({@code unshare -m}).
 *
 * <p>umoci 0.4 cannot read zstd layers, so its copy of the middle layer is gzip while the store
 * gets the same tar as zstd: the diff IDs, and so the image's content, are the same.
 */
class UmociComparisonIT {
  @TempDir Path base;

  @Test
  void overlayOfTheStoresLayersShowsWhatUmociUnpacks() throws Exception {
    byte[] bottom = bottomLayer().build();
    byte[] middle = middleLayer().build();
    byte[] top = topLayer().build();
    List<TestLayer> forUmoci =
        List.of(
            TestLayer.of(bottom, LayerCompression.GZIP),
            TestLayer.of(middle, LayerCompression.GZIP),
            TestLayer.of(top, LayerCompression.NONE));
    List<TestLayer> forStore =
        List.of(
            TestLayer.of(bottom, LayerCompression.GZIP),
            TestLayer.of(middle, LayerCompression.ZSTD),
            TestLayer.of(top, LayerCompression.NONE));

    Path layout = base.resolve("image");
    OciLayout.write(layout, "test", forUmoci);
    Path bundle = base.resolve("bundle");
    run(List.of("umoci", "unpack", "--image", layout + ":test", bundle.toString()));
    List<String> expected = TreeListing.list(bundle.resolve("rootfs"));

    List<String> lowerdirs = new ArrayList<>();
    try (LocalLayerStore store = LocalLayerStore.open(base.resolve("store"))) {
      for (TestLayer layer : forStore) {
        StoredLayer stored =
            store.importLayer(
                layer.digest(),
                layer.diffId(),
                layer.mediaType(),
                new ByteArrayInputStream(layer.blob()));
        lowerdirs.addFirst(stored.directory().toString()); // overlay lists the top layer first
      }
    }
    List<String> actual = listOverlay(String.join(":", lowerdirs));

    // The comparison only means something if umoci applied the whiteouts and opaque markers.
    assertThat(expected.stream().map(line -> line.split(" ")[0]))
        .contains("var/lib/c", "lib/newfile", "opt/new/file", "usr/bin/sudo")
        .doesNotContain(
            "etc/shadow", "opt/old", "var/lib/a", "var/log/boot.log", "usr/lib/libx.so");
    assertThat(String.join("\n", actual)).isEqualTo(String.join("\n", expected));
  }

  /** Lists a read-only overlay of the lowerdirs from inside a private mount namespace. */
  private List<String> listOverlay(String lowerdirs) throws Exception {
    Path mnt = Files.createDirectory(base.resolve("mnt"));
    String java = ProcessHandle.current().info().command().orElse("java");
    String output =
        run(
            List.of(
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t overlay overlay -o ro,lowerdir=\"$1\" \"$2\" && exec \"$3\""
                    + " --enable-native-access=ALL-UNNAMED -cp \"$4\" \"$5\" \"$2\"",
                "sh",
                lowerdirs,
                mnt.toString(),
                java,
                System.getProperty("java.class.path"),
                TreeListing.class.getName()));
    return output.lines().toList();
  }

  private static String run(List<String> command) throws Exception {
    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("%s finishes", command).isTrue();
    assertThat(p.exitValue()).as("exit code of %s", command).isZero();
    return out;
  }

  private static TarBuilder bottomLayer() {
    return new TarBuilder()
        .dir("./", 0755)
        .dir("etc", 0755)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644)
        .file("etc/shadow", "root:*:19000::::::\n", 0640, e -> e.setGroupId(42))
        .file("etc/hostname", "base\n", 0644)
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .symlink("etc/up", "../../usr/bin")
        .dir("usr", 0755)
        .dir("usr/bin", 0755)
        .file("usr/bin/su", "su\n", 04755)
        .hardlink("usr/bin/sudo", "usr/bin/su")
        .file("usr/bin/wall", "wall\n", 02755, e -> e.setGroupId(5))
        .dir("usr/lib", 0755)
        .file("usr/lib/libx.so.1", "lib\n", 0644)
        .symlink("usr/lib/libx.so", "libx.so.1")
        .symlink("lib", "usr/lib")
        .dir("tmp", 01777)
        .dir("home", 0755)
        .dir("home/user", 0700, e -> owner(e, 1000, 1000))
        .file(
            "home/user/.profile",
            "export A=1\n",
            0644,
            e -> {
              owner(e, 1000, 1000);
              e.addPaxHeader("SCHILY.xattr.user.origin", "bottom");
            })
        .dir("opt", 0755)
        .dir("opt/old", 0755)
        .file("opt/old/file", "old\n", 0644)
        .dir("var", 0755)
        .dir("var/lib", 0755)
        .file("var/lib/a", "a\n", 0644)
        .file("var/lib/b", "b\n", 0644)
        .dir("var/log", 0755)
        .file("var/log/boot.log", "booted\n", 0640);
  }

  private static TarBuilder middleLayer() {
    return new TarBuilder()
        .dir("./", 0755)
        .dir("opt", 0755)
        .whiteout("opt", "old")
        .dir("var", 0755)
        .dir("var/lib", 0750)
        .opaque("var/lib")
        .file("var/lib/c", "c\n", 0600)
        .dir("etc", 0755)
        .file(
            "etc/passwd", "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", 0644)
        .symlink("etc/hostname", "/proc/sys/kernel/hostname")
        .dir("usr", 0755)
        .dir("usr/bin", 0755)
        .file("usr/bin/tool", "tool\n", 0755)
        .hardlink("usr/bin/tool-alias", "usr/bin/tool")
        .dir("home", 0755)
        .dir("home/user", 0700, e -> owner(e, 1000, 1000))
        .file(
            "home/user/.profile",
            "export A=2\n",
            0600,
            e -> {
              owner(e, 1000, 1000);
              e.addPaxHeader("SCHILY.xattr.user.origin", "middle");
            });
  }

  private static TarBuilder topLayer() {
    return new TarBuilder()
        .dir("./", 0755)
        .dir("etc", 0755)
        .whiteout("etc", "shadow")
        .dir("var", 0755)
        .dir("var/log", 0755)
        .opaque("var/log")
        .dir("usr", 0755)
        .dir("usr/lib", 0755)
        .whiteout("usr/lib", "libx.so")
        .dir("lib", 0755)
        .file("lib/newfile", "replaces the symlink\n", 0644)
        .file("opt/new/file", "implicit parents\n", 0644);
  }

  private static void owner(
      org.apache.commons.compress.archivers.tar.TarArchiveEntry e, int uid, int gid) {
    e.setUserId(uid);
    e.setGroupId(gid);
  }

  static {
    // Fail early with a clear message instead of a cryptic one from the comparison.
    if (!Files.isExecutable(Path.of("/usr/bin/umoci"))) {
      throw new IllegalStateException("umoci is missing: run hack/install-deps.sh as root");
    }
  }
}
