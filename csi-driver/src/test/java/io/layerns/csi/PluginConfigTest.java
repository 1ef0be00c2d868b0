package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PluginConfigTest {

  @Test
  void argumentsWinOverEnvironmentAndUnixSchemeIsDropped() {
    var config =
        PluginConfig.parse(
            new String[] {"--csi-endpoint=unix:///csi/other.sock", "--registration-dir="},
            Map.of("CSI_ENDPOINT", "/ignored.sock", "NODE_NAME", "node-7"));

    assertThat(config.csiEndpoint()).isEqualTo(Path.of("/csi/other.sock"));
    assertThat(config.nodeName()).isEqualTo("node-7");
    assertThat(config.registrationDir()).isEqualTo(Optional.empty());
    assertThat(config.kubeletEndpoint())
        .isEqualTo(Path.of("/var/lib/kubelet/plugins/csi.layerns.io/csi.sock"));
  }

  @Test
  void containerdsMirrorIsOnLoopbackUnlessTurnedOff() {
    assertThat(PluginConfig.parse(new String[0], Map.of("NODE_NAME", "n")).mirror().address())
        .contains(new java.net.InetSocketAddress("127.0.0.1", 7050));
    assertThat(
            PluginConfig.parse(
                    new String[0], Map.of("NODE_NAME", "n", "LAYERNS_MIRROR_ADDRESS", "off"))
                .mirror()
                .address())
        .isEmpty();
    assertThat(
            PluginConfig.parse(
                    new String[] {"--mirror-address=127.0.1.5:0", "--mirror-tag-max-age=9"},
                    Map.of("NODE_NAME", "n", "LAYERNS_MIRROR_ADDRESS", "off"))
                .mirror())
        .satisfies(
            m -> {
              assertThat(m.address()).contains(new java.net.InetSocketAddress("127.0.1.5", 0));
              assertThat(m.tagMaxAge()).isEqualTo(Duration.ofSeconds(9));
            });
  }

  @Test
  void remoteMountsAreCheckedEvery30sUnlessConfigured() {
    assertThat(PluginConfig.parse(new String[0], Map.of("NODE_NAME", "n")).remoteMountCheck())
        .isEqualTo(Duration.ofSeconds(30));
    assertThat(
            PluginConfig.parse(
                    new String[] {"--remote-mount-check-seconds=5"}, Map.of("NODE_NAME", "n"))
                .remoteMountCheck())
        .isEqualTo(Duration.ofSeconds(5));
  }

  @Test
  void healthIsServedOn9809UnlessConfigured() {
    assertThat(PluginConfig.parse(new String[0], Map.of("NODE_NAME", "n")).healthPort())
        .isEqualTo(9809);
    assertThat(
            PluginConfig.parse(new String[] {"--health-port=0"}, Map.of("NODE_NAME", "n"))
                .healthPort())
        .isEqualTo(0);
  }

  @Test
  void nodeNameIsRequired() {
    assertThatThrownBy(() -> PluginConfig.parse(new String[0], Map.of()))
        .hasMessage("--node-name or NODE_NAME is required");
  }
}
