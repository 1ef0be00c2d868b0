package io.layerns.csi.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MountTableTest {

  @Test
  void parsesOptionalFieldsAndUnescapesPaths() {
    String text =
        """
        22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        65 43 0:39 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/my\\040vol/mount rw,relatime shared:30 master:1 - overlay layerns ro,lowerdir=1:0,redirect_dir=on
        """;

    var entries = MountTable.parse(text);

    assertThat(entries).hasSize(2);
    assertThat(entries.get(1))
        .isEqualTo(
            new MountTable.Entry(
                65,
                43,
                "/",
                "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/my vol/mount",
                "rw,relatime",
                "overlay",
                "layerns",
                "ro,lowerdir=1:0,redirect_dir=on"));
  }

  @Test
  void unescapesBackslashTabAndNewline() {
    assertThat(MountTable.unescape("a\\134b\\011c\\012d\\0")).isEqualTo("a\\b\tc\nd\\0");
  }

  @Test
  void refusesALineWithoutSeparator() {
    assertThatThrownBy(() -> MountTable.parse("1 2 0:1 / /x rw shared:1 proc proc rw"))
        .hasMessageContaining("malformed mountinfo line");
  }

  @Test
  void procIsAMountPointAndAFreshFolderIsNot(@TempDir Path tmp) throws Exception {
    assertThat(MountTable.isMountPoint(Path.of("/proc"))).isTrue();
    assertThat(MountTable.isMountPoint(tmp)).isFalse();
    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
  }
}
