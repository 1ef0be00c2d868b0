package io.layerns.csi.store;

import static io.layerns.csi.store.Inspect.content;
import static io.layerns.csi.store.Inspect.inode;
import static io.layerns.csi.store.Inspect.isWhiteout;
import static io.layerns.csi.store.Inspect.linkTarget;
import static io.layerns.csi.store.Inspect.mtime;
import static io.layerns.csi.store.Inspect.owner;
import static io.layerns.csi.store.Inspect.permissions;
import static io.layerns.csi.store.Inspect.xattr;
import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.store.posix.Posix;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Unpacks layers made here and checks the overlay-format tree file by file (needs root). */
class LayerUnpackTest {
  // commons-compress writes PAX times to 100 ns, finer than the second the ustar field holds.
  private static final Instant NANO_MTIME = Instant.parse("2023-11-14T22:13:20.1234567Z");

  /** cap_net_raw+ep as Debian's iputils-ping sets it (VFS_CAP_REVISION_2, little-endian). */
  static final byte[] CAP_NET_RAW_EP = {
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  };

  @TempDir Path base;
  private LocalLayerStore store;

  @BeforeEach
  void openStore() throws IOException {
    store = LocalLayerStore.open(base.resolve("store"));
  }

  @AfterEach
  void closeStore() throws IOException {
    store.close();
  }

  static Stream<Arguments> compressionsAndPaths() {
    return Stream.of(LayerCompression.values())
        .flatMap(c -> Stream.of(Arguments.of(c, "import"), Arguments.of(c, "put then unpack")));
  }

  @ParameterizedTest(name = "{0} via {1}")
  @MethodSource("compressionsAndPaths")
  void unpacksEveryKindOfEntryInOverlayFormat(LayerCompression compression, String path)
      throws IOException {
    TestLayer layer = richLayer().layer(compression);

    StoredLayer stored = unpack(layer, path);
    Path root = stored.directory();

    assertThat(stored.diffId()).isEqualTo(layer.diffId());
    assertThat(stored.digest()).isEqualTo(layer.digest());
    assertThat(permissions(root)).isEqualTo(0755);
    assertThat(content(root.resolve("etc/passwd"))).isEqualTo("root:x:0:0::/root:/bin/sh\n");
    assertThat(permissions(root.resolve("etc/passwd"))).isEqualTo(0644);
    assertThat(owner(root.resolve("etc/shadow"))).isEqualTo("0:42");
    assertThat(permissions(root.resolve("etc/shadow"))).isEqualTo(0640);
    assertThat(permissions(root.resolve("usr/bin/su"))).isEqualTo(04755);
    assertThat(permissions(root.resolve("usr/bin/wall"))).isEqualTo(02755);
    assertThat(permissions(root.resolve("tmp"))).isEqualTo(01777);
    assertThat(owner(root.resolve("home/user"))).isEqualTo("1000:1000");
    assertThat(permissions(root.resolve("home/user"))).isEqualTo(0700);
    assertThat(owner(root.resolve("home/user/notes.txt"))).isEqualTo("1000:1000");
    assertThat(xattr(root.resolve("home/user/notes.txt"), "user.comment")).contains("café ☕");
    assertThat(Posix.lgetxattr(root.resolve("home/user/notes.txt"), "security.capability"))
        .hasValueSatisfying(v -> assertThat(v).isEqualTo(CAP_NET_RAW_EP));
    // A label is the node's to give: dropped, as umoci drops it.
    assertThat(xattr(root.resolve("home/user/notes.txt"), "security.selinux")).isEmpty();
    assertThat(linkTarget(root.resolve("bin"))).isEqualTo("usr/bin");
    assertThat(linkTarget(root.resolve("lib/abs"))).isEqualTo("/usr/lib/x86_64-linux-gnu");
    assertThat(linkTarget(root.resolve("lib/up"))).isEqualTo("../../../../etc/passwd");
    assertThat(owner(root.resolve("lib/owned-link"))).isEqualTo("7:8");
    assertThat(inode(root.resolve("usr/bin/sudo"))).isEqualTo(inode(root.resolve("usr/bin/su")));
    assertThat(isWhiteout(root.resolve("gone"))).isTrue();
    assertThat(isWhiteout(root.resolve("var/cache"))).isTrue();
    assertThat(xattr(root.resolve("var/lib"), "trusted.overlay.opaque")).contains("y");
    assertThat(xattr(root.resolve("var"), "trusted.overlay.opaque")).isEmpty();
    assertThat(content(root.resolve("var/lib/state"))).isEqualTo("fresh");
    assertThat(Files.exists(root.resolve("var/lib/.wh..wh..opq"), LinkOption.NOFOLLOW_LINKS))
        .isFalse();
    assertThat(Files.exists(root.resolve(".wh.gone"), LinkOption.NOFOLLOW_LINKS)).isFalse();
    assertThat(permissions(root.resolve("implicit/parent"))).isEqualTo(0755);
    assertThat(content(root.resolve("implicit/parent/file"))).isEqualTo("no parent entries");
    assertThat(mtime(root.resolve("etc/passwd"))).isEqualTo(FileTime.from(TarBuilder.MTIME));
    assertThat(mtime(root.resolve("bin"))).isEqualTo(FileTime.from(TarBuilder.MTIME));
    // Written after its children, yet it keeps the archive's time.
    assertThat(mtime(root.resolve("etc"))).isEqualTo(FileTime.from(TarBuilder.MTIME));
    assertThat(mtime(root.resolve("precise"))).isEqualTo(FileTime.from(NANO_MTIME));
    assertThat(stored.contentBytes())
        .as("hardlinked content counted once")
        .isEqualTo(
            Stream.of(
                    "etc/passwd",
                    "etc/shadow",
                    "usr/bin/su",
                    "usr/bin/wall",
                    "home/user/notes.txt",
                    "var/lib/state",
                    "implicit/parent/file",
                    "precise")
                .mapToLong(f -> size(root.resolve(f)))
                .sum());
  }

  @Test
  void devicesAndFifosAreMadeWithTheirTypeNumbersModeAndOwnerAsContainerdDoes() throws Exception {
    // What debootstrap puts in /dev, and a FIFO as postfix's spool has one.
    TestLayer layer =
        new TarBuilder()
            .dir("dev", 0755)
            .add(device("dev/console", TarConstants.LF_CHR, 5, 1, 0600, 0, 5), null)
            .add(device("dev/null", TarConstants.LF_CHR, 1, 3, 0666, 0, 0), null)
            .add(device("dev/loop0", TarConstants.LF_BLK, 7, 0, 0660, 0, 6), null)
            // glibc packs major and minor numbers beyond 8 bits in two pieces each.
            .add(device("dev/big", TarConstants.LF_BLK, 259, 65536 + 7, 0600, 0, 0), null)
            .add(
                device(
                    "var/spool/postfix/public/pickup", TarConstants.LF_FIFO, 0, 0, 0622, 101, 102),
                null)
            .hardlink("dev/console-link", "dev/console")
            .layer(LayerCompression.GZIP);

    Path root = unpack(layer, "import").directory();

    assertThat(Inspect.fileType(root.resolve("dev/console"))).isEqualTo(0020000);
    assertThat(Inspect.rdev(root.resolve("dev/console"))).isEqualTo(makedev(5, 1));
    assertThat(permissions(root.resolve("dev/console"))).isEqualTo(0600);
    assertThat(owner(root.resolve("dev/console"))).isEqualTo("0:5");
    assertThat(isWhiteout(root.resolve("dev/console"))).isFalse();
    assertThat(Inspect.rdev(root.resolve("dev/null"))).isEqualTo(makedev(1, 3));
    assertThat(permissions(root.resolve("dev/null"))).isEqualTo(0666);
    assertThat(Inspect.fileType(root.resolve("dev/loop0"))).isEqualTo(0060000);
    assertThat(Inspect.rdev(root.resolve("dev/loop0"))).isEqualTo(makedev(7, 0));
    assertThat(owner(root.resolve("dev/loop0"))).isEqualTo("0:6");
    assertThat(Inspect.rdev(root.resolve("dev/big"))).isEqualTo(makedev(259, 65536 + 7));
    Path fifo = root.resolve("var/spool/postfix/public/pickup");
    assertThat(Inspect.fileType(fifo)).isEqualTo(0010000);
    assertThat(permissions(fifo)).isEqualTo(0622);
    assertThat(owner(fifo)).isEqualTo("101:102");
    assertThat(inode(root.resolve("dev/console-link")))
        .isEqualTo(inode(root.resolve("dev/console")));
    assertThat(mtime(root.resolve("dev/null"))).isEqualTo(FileTime.from(TarBuilder.MTIME));
  }

  @Test
  void posixAclsAreKeptOnFilesAndAsDefaultsOnDirectories() throws Exception {
    // Raw PAX records: an ACL holds bytes above 0x7f, which a String header would re-encode.
    TestLayer layer =
        TestLayer.of(
            new RawTar()
                .pax(java.util.Map.of("SCHILY.xattr.system.posix_acl_default", ACL_USER_1000_READ))
                .entry("shared/", '5', new byte[0])
                .pax(java.util.Map.of("SCHILY.xattr.system.posix_acl_access", ACL_USER_1000_READ))
                .file("shared/report", "r")
                .build(),
            LayerCompression.NONE);

    Path root = unpack(layer, "import").directory();

    assertThat(Posix.lgetxattr(root.resolve("shared/report"), "system.posix_acl_access"))
        .hasValueSatisfying(v -> assertThat(v).isEqualTo(ACL_USER_1000_READ));
    assertThat(Posix.lgetxattr(root.resolve("shared"), "system.posix_acl_default"))
        .hasValueSatisfying(v -> assertThat(v).isEqualTo(ACL_USER_1000_READ));
    assertThat(permissions(root.resolve("shared/report"))).isEqualTo(0644);
  }

  /** user::rw-, user:1000:r--, group::r--, mask::r--, other::r-- in the kernel's xattr form. */
  private static final byte[] ACL_USER_1000_READ = {
    2,
    0,
    0,
    0, //
    1,
    0,
    6,
    0,
    -1,
    -1,
    -1,
    -1, //
    2,
    0,
    4,
    0,
    (byte) 0xe8,
    3,
    0,
    0, //
    4,
    0,
    4,
    0,
    -1,
    -1,
    -1,
    -1, //
    0x10,
    0,
    4,
    0,
    -1,
    -1,
    -1,
    -1, //
    0x20,
    0,
    4,
    0,
    -1,
    -1,
    -1,
    -1
  };

  /**
   * A character device 0/0 is what overlayfs reads as a whiteout, so such an entry hides the file
   * of the layers below, as it does when containerd unpacks it onto overlayfs (umoci leaves a
   * device); the store lists it as a whiteout for the remote transports too.
   */
  @Test
  void aCharacterDeviceZeroZeroEntryIsAWhiteout() throws Exception {
    TestLayer layer =
        new TarBuilder()
            .dir("etc", 0755)
            .add(device("etc/hidden", TarConstants.LF_CHR, 0, 0, 0644, 0, 0), null)
            .layer(LayerCompression.NONE);

    Path root = unpack(layer, "import").directory();

    assertThat(isWhiteout(root.resolve("etc/hidden"))).isTrue();
    assertThat(OverlayMarkers.scan(root).whiteouts()).containsExactly("etc/hidden");
  }

  private static TarArchiveEntry device(
      String name, byte type, int major, int minor, int mode, int uid, int gid) {
    TarArchiveEntry e = new TarBuilder().entry(name, type, mode);
    e.setDevMajor(major);
    e.setDevMinor(minor);
    setOwner(e, uid, gid);
    return e;
  }

  /** glibc's makedev, which stat's st_rdev holds. */
  static long makedev(long major, long minor) {
    return ((major & 0xfffff000L) << 32)
        | ((major & 0xfffL) << 8)
        | ((minor & 0xffffff00L) << 12)
        | (minor & 0xffL);
  }

  @Test
  void aLaterEntryReplacesAnEarlierOneOfTheSameName() throws IOException {
    TestLayer layer =
        new TarBuilder()
            .file("a", "first", 0644)
            .file("a", "second", 0600)
            .symlink("b", "first-target")
            .file("b", "now a file", 0644)
            .dir("c", 0755)
            .file("c/inside", "gone with c", 0644)
            .symlink("c", "replaced-dir")
            .layer(LayerCompression.GZIP);

    Path root = unpack(layer, "import").directory();

    assertThat(content(root.resolve("a"))).isEqualTo("second");
    assertThat(permissions(root.resolve("a"))).isEqualTo(0600);
    assertThat(Files.isSymbolicLink(root.resolve("b"))).isFalse();
    assertThat(content(root.resolve("b"))).isEqualTo("now a file");
    assertThat(linkTarget(root.resolve("c"))).isEqualTo("replaced-dir");
  }

  @Test
  void anEntryOfTheLayerWinsOverItsOwnWhiteout() throws IOException {
    TestLayer layer =
        new TarBuilder()
            .file("kept-before", "mine", 0644)
            .whiteout("", "kept-before")
            .whiteout("", "kept-after")
            .file("kept-after", "mine too", 0644)
            .layer(LayerCompression.NONE);

    Path root = unpack(layer, "import").directory();

    assertThat(content(root.resolve("kept-before"))).isEqualTo("mine");
    assertThat(content(root.resolve("kept-after"))).isEqualTo("mine too");
  }

  @Test
  void aDotSlashPrefixAndADotDotThatStaysInsideAreNormalNames() throws IOException {
    TestLayer layer =
        new TarBuilder()
            .dir("./", 0711)
            .file("./a/b/../c", "inside", 0644)
            .layer(LayerCompression.NONE);

    Path root = unpack(layer, "import").directory();

    assertThat(permissions(root)).isEqualTo(0711);
    assertThat(content(root.resolve("a/c"))).isEqualTo("inside");
    assertThat(Files.exists(root.resolve("a/b"))).isFalse();
  }

  @Test
  void binaryXattrValuesAreKeptByteForByte() throws IOException {
    byte[] binary = {(byte) 0xff, 0, (byte) 0x80, 'y', '\n'};
    TestLayer layer =
        TestLayer.of(
            new RawTar()
                .pax(java.util.Map.of("SCHILY.xattr.user.binary", binary))
                .file("f", "x")
                .build(),
            LayerCompression.GZIP);

    Path root = unpack(layer, "import").directory();

    assertThat(io.layerns.csi.store.posix.Posix.lgetxattr(root.resolve("f"), "user.binary"))
        .hasValueSatisfying(v -> assertThat(v).containsExactly(binary));
  }

  @Test
  void importingALayerWhoseBlobWasDeletedStoresTheBlobAgain() throws IOException {
    TestLayer layer = new TarBuilder().file("f", "x", 0644).layer(LayerCompression.GZIP);
    StoredLayer first = unpack(layer, "import");
    store.deleteBlob(layer.digest());

    StoredLayer again = unpack(layer, "import");

    assertThat(again).isEqualTo(first);
    assertThat(store.hasBlob(layer.digest())).isTrue();
  }

  @Test
  void unpackingTheSameLayerTwiceReturnsTheStoredOne() throws IOException {
    TestLayer layer = new TarBuilder().file("f", "x", 0644).layer(LayerCompression.ZSTD);

    StoredLayer first = unpack(layer, "put then unpack");
    StoredLayer second = store.unpackLayer(layer.digest(), layer.diffId(), layer.mediaType());

    assertThat(second).isEqualTo(first);
    assertThat(store.listLayers()).containsExactly(first);
  }

  private StoredLayer unpack(TestLayer layer, String path) throws IOException {
    if (path.equals("import")) {
      return store.importLayer(
          layer.digest(),
          layer.diffId(),
          layer.mediaType(),
          new ByteArrayInputStream(layer.blob()));
    }
    store.putBlob(layer.digest(), new ByteArrayInputStream(layer.blob()));
    return store.unpackLayer(layer.digest(), layer.diffId(), layer.mediaType());
  }

  /** A layer with every kind of entry the unpacker must reproduce. */
  static TarBuilder richLayer() {
    return new TarBuilder()
        .dir("./", 0755)
        .dir("etc", 0755)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644)
        .file("etc/shadow", "root:*:19000::::::\n", 0640, e -> e.setGroupId(42))
        .dir("usr", 0755)
        .dir("usr/bin", 0755)
        .file("usr/bin/su", "#!/bin/true setuid\n", 04755)
        .file("usr/bin/wall", "#!/bin/true setgid\n", 02755)
        .hardlink("usr/bin/sudo", "usr/bin/su")
        .dir("tmp", 01777)
        .dir("home", 0755)
        .dir("home/user", 0700, e -> setOwner(e, 1000, 1000))
        .file(
            "home/user/notes.txt",
            "private notes\n",
            0600,
            e -> {
              setOwner(e, 1000, 1000);
              e.addPaxHeader("SCHILY.xattr.user.comment", "café ☕");
              e.addPaxHeader(
                  "SCHILY.xattr.security.capability",
                  new String(CAP_NET_RAW_EP, java.nio.charset.StandardCharsets.ISO_8859_1));
              e.addPaxHeader("SCHILY.xattr.security.selinux", "system_u:object_r:bin_t:s0");
            })
        .symlink("bin", "usr/bin")
        .symlink("lib/abs", "/usr/lib/x86_64-linux-gnu")
        .symlink("lib/up", "../../../../etc/passwd")
        .add(ownedSymlink(), null)
        .whiteout("", "gone")
        .dir("var", 0755)
        .whiteout("var", "cache")
        .opaque("var/lib")
        .file("var/lib/state", "fresh", 0644)
        .file("implicit/parent/file", "no parent entries", 0644)
        .file(
            "precise",
            "nanosecond mtime",
            0644,
            e -> e.setLastModifiedTime(FileTime.from(NANO_MTIME)));
  }

  private static TarArchiveEntry ownedSymlink() {
    TarArchiveEntry e = new TarBuilder().entry("lib/owned-link", (byte) '2', 0777);
    e.setLinkName("abs");
    setOwner(e, 7, 8);
    return e;
  }

  private static void setOwner(TarArchiveEntry e, int uid, int gid) {
    e.setUserId(uid);
    e.setGroupId(gid);
  }

  private static long size(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
