package io.layerns.csi.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The list a holder serves of what remote mounts cannot carry, and its checks (needs root). */
class OverlayMarkersTest {
  @TempDir Path root;

  @Test
  void listsNodesFifosXattrFilesWithTheirLinksAndSpecialModesAndSurvivesJson() throws Exception {
    Files.createDirectories(root.resolve("dev"));
    Posix.mknod(root.resolve("dev/console"), Posix.NodeType.CHARACTER_DEVICE, 0600, 5, 1);
    Posix.lchown(root.resolve("dev/console"), 0, 5);
    Posix.mknod(root.resolve("dev/gone"), Posix.NodeType.CHARACTER_DEVICE, 0600, 0, 0);
    Posix.mknod(root.resolve("fifo"), Posix.NodeType.FIFO, 0622, 0, 0);
    Posix.chmod(root.resolve("fifo"), 0622);
    Files.createDirectories(root.resolve("bin"));
    Files.writeString(root.resolve("bin/ping"), "ping");
    Posix.lsetxattr(
        root.resolve("bin/ping"), "security.capability", LayerUnpackTest.CAP_NET_RAW_EP);
    Files.createLink(root.resolve("bin/ping-link"), root.resolve("bin/ping"));
    Files.writeString(root.resolve("bin/su"), "su");
    Posix.chmod(root.resolve("bin/su"), 04755);
    Files.writeString(root.resolve("bin/plain"), "nothing special");
    Files.createDirectories(root.resolve("tmp"));
    Posix.chmod(root.resolve("tmp"), 01777);

    OverlayMarkers m = OverlayMarkers.scan(root);

    assertThat(m.whiteouts()).containsExactly("dev/gone");
    assertThat(m.specials())
        .extracting(s -> s.path() + " " + s.type() + " " + Integer.toOctalString(s.mode()))
        .containsExactly(
            "bin/ping f 644", "bin/su f 4755", "dev/console c 600", "fifo p 622", "tmp d 1777");
    OverlayMarkers.Special console = m.specials().get(2);
    assertThat(console.major()).isEqualTo(5);
    assertThat(console.minor()).isEqualTo(1);
    assertThat(console.gid()).isEqualTo(5);
    assertThat(m.specials().getFirst().links()).containsExactly("bin/ping-link");
    assertThat(m.specials().getFirst().xattrs().get("security.capability"))
        .isEqualTo(LayerUnpackTest.CAP_NET_RAW_EP);

    OverlayMarkers back = OverlayMarkers.parse(m.toJson());
    assertThat(new String(back.toJson(), StandardCharsets.UTF_8))
        .isEqualTo(new String(m.toJson(), StandardCharsets.UTF_8));
  }

  @Test
  void aPeersListMayNotAskForXattrsALayerMayNotSetNorPathsOutside() {
    String redirect =
        """
        {"whiteouts":[],"opaqueDirs":[],"specials":[{"path":"etc","type":"d","mode":493,\
        "xattrs":{"trusted.overlay.redirect":"L2hvc3Q="},"links":[]}]}""";
    assertThatThrownBy(() -> OverlayMarkers.parse(redirect.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("xattr trusted.overlay.redirect of \"etc\" is not kept");
    String outside =
        """
        {"whiteouts":[],"opaqueDirs":[],"specials":[{"path":"../../dev/sda","type":"b",\
        "mode":438,"major":8,"minor":0,"xattrs":{},"links":[]}]}""";
    assertThatThrownBy(() -> OverlayMarkers.parse(outside.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("not a normalized path inside the layer");
  }
}
