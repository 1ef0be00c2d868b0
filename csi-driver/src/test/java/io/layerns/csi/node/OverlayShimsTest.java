package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.Digest;
import io.layerns.csi.store.OverlayMarkers;
import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shims copy, from a peer's mount, the files whose xattrs the transport drops. The peer owns
 * that tree: a symlink in it must not make the copy read a file of this host.
 */
class OverlayShimsTest {
  @TempDir Path tmp;

  private static OverlayMarkers fileWithCapability(String path) {
    return new OverlayMarkers(
        List.of(),
        List.of(),
        List.of(
            new OverlayMarkers.Special(
                path,
                'f',
                0755,
                0,
                0,
                0,
                0,
                1_700_000_000L,
                0,
                Map.of("user.test", "x".getBytes(StandardCharsets.UTF_8)),
                List.of())));
  }

  private Path hostSecret() throws IOException {
    Path hostDir = Files.createDirectories(tmp.resolve("host-etc"));
    Files.writeString(hostDir.resolve("shadow"), "root:secret-hash:::\n");
    return hostDir;
  }

  @Test
  void copiesAFileWithItsXattrsFromThePeersTree() throws Exception {
    Path peer = Files.createDirectories(tmp.resolve("peer/bin"));
    Files.writeString(peer.resolve("ping"), "ELF...");
    Digest layer = Digest.parse("sha256:" + "a".repeat(64));
    List<Path> dirs =
        new OverlayShims(tmp.resolve("shims"))
            .around(layer, tmp.resolve("peer"), fileWithCapability("bin/ping"));
    assertThat(Files.readString(dirs.getLast().resolve("bin/ping"))).isEqualTo("ELF...");
  }

  @Test
  void aSymlinkedDirectoryOnThePeerDoesNotLeakAHostFile() throws Exception {
    Path hostDir = hostSecret();
    Path peer = Files.createDirectories(tmp.resolve("peer"));
    Files.createSymbolicLink(peer.resolve("etc"), hostDir);
    Digest layer = Digest.parse("sha256:" + "b".repeat(64));
    OverlayShims shims = new OverlayShims(tmp.resolve("shims"));

    assertThatThrownBy(() -> shims.around(layer, peer, fileWithCapability("etc/shadow")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("etc/shadow")
        .hasMessageContaining("without following a symlink");
    assertThat(tmp.resolve("shims").resolve(layer.hex())).doesNotExist();
  }

  @Test
  void aSymlinkInPlaceOfTheFileIsNotFollowedEither() throws Exception {
    Path hostDir = hostSecret();
    Path peer = Files.createDirectories(tmp.resolve("peer/etc"));
    Files.createSymbolicLink(peer.resolve("shadow"), hostDir.resolve("shadow"));
    Digest layer = Digest.parse("sha256:" + "c".repeat(64));

    assertThatThrownBy(
            () ->
                new OverlayShims(tmp.resolve("shims"))
                    .around(layer, tmp.resolve("peer"), fileWithCapability("etc/shadow")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("etc/shadow");
  }

  @Test
  void aSymlinkedDirectoryOnThePeerLendsNoHostDirectorysOwnerOrMode() throws Exception {
    Path hostDir = Files.createDirectories(tmp.resolve("host-private/keys"));
    Posix.lchown(hostDir, 4243, 4243);
    Posix.chmod(hostDir, 0711);
    Path peer = Files.createDirectories(tmp.resolve("peer"));
    Files.createSymbolicLink(peer.resolve("etc"), tmp.resolve("host-private"));
    Digest layer = Digest.parse("sha256:" + "d".repeat(64));
    OverlayMarkers dirWithXattr =
        new OverlayMarkers(
            List.of(),
            List.of(),
            List.of(
                new OverlayMarkers.Special(
                    "etc/keys/conf.d",
                    'd',
                    0750,
                    0,
                    0,
                    0,
                    0,
                    1_700_000_000L,
                    0,
                    Map.of("user.test", "x".getBytes(StandardCharsets.UTF_8)),
                    List.of())));

    List<Path> dirs = new OverlayShims(tmp.resolve("shims")).around(layer, peer, dirWithXattr);

    // The peer's "etc" is a symlink to a host directory: its "keys" is not the layer's, so the
    // shim keeps the default owner and mode instead of showing the host directory's.
    Path keys = dirs.getLast().resolve("etc/keys");
    assertThat((Integer) Files.getAttribute(keys, "unix:uid")).isEqualTo(0);
    assertThat((Integer) Files.getAttribute(keys, "unix:mode") & 07777).isEqualTo(0755);
  }
}
