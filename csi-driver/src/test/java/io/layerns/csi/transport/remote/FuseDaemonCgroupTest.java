package io.layerns.csi.transport.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class FuseDaemonCgroupTest {
  private static final Path ROOT = Path.of("/host/sys/fs/cgroup");

  @Test
  void besideKubepodsWithTheCgroupfsDriverOnV1() {
    String self =
        """
        9:name=systemd:/layerns-cluster-1/node-1/kubepods/besteffort/pod1/abc
        8:pids:/layerns-cluster-1/node-1/kubepods/besteffort/pod1/abc
        4:memory:/layerns-cluster-1/node-1/kubepods/besteffort/pod1/abc
        0::/
        """;
    assertThat(FuseDaemonCgroup.besideKubepods(self))
        .hasValue("/layerns-cluster-1/node-1/layerns-fuse");
  }

  @Test
  void besideKubepodsWithSystemdOnV2() {
    assertThat(
            FuseDaemonCgroup.besideKubepods(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/x\n"))
        .hasValue("/layerns-fuse");
  }

  @Test
  void aPluginOutsideAPodKeepsItsDaemons() {
    assertThat(FuseDaemonCgroup.besideKubepods("8:pids:/user.slice\n0::/user.slice\n")).isEmpty();
    assertThat(FuseDaemonCgroup.of("auto", ROOT, "0::/\n").path()).isEmpty();
    assertThat(FuseDaemonCgroup.of("none", ROOT, "8:pids:/kubepods/x\n").path()).isEmpty();
  }

  @Test
  void anExplicitPathMustBeAbsoluteAndStayInTheTree() {
    assertThat(FuseDaemonCgroup.of("/fuse", ROOT, "").path()).isEqualTo(Optional.of("/fuse"));
    assertThatThrownBy(() -> FuseDaemonCgroup.of("fuse", ROOT, ""))
        .hasMessageContaining("--fuse-daemon-cgroup must be auto, none or an absolute cgroup path");
    assertThatThrownBy(() -> FuseDaemonCgroup.of("/a/../b", ROOT, ""))
        .hasMessageContaining("not /a/../b");
  }

  @Test
  void wrappedCommandJoinsEveryHierarchyThenRunsTheMount() {
    List<String> wrapped =
        FuseDaemonCgroup.wrap(
            List.of(Path.of("/c/pids/f/cgroup.procs"), Path.of("/c/memory/f/cgroup.procs")),
            List.of("sshfs", "peer:/", "/mnt"));
    assertThat(wrapped.subList(0, 2)).containsExactly("sh", "-c");
    assertThat(wrapped.subList(3, wrapped.size()))
        .containsExactly(
            "sh",
            "2",
            "/c/pids/f/cgroup.procs",
            "/c/memory/f/cgroup.procs",
            "sshfs",
            "peer:/",
            "/mnt");
    assertThat(FuseDaemonCgroup.wrap(List.of(), List.of("sshfs"))).containsExactly("sshfs");
  }
}
