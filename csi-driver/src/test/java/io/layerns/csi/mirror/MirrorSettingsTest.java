package io.layerns.csi.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.registry.Credentials;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MirrorSettingsTest {

  @Test
  void defaultsToLoopbackPort7050WithoutTagsKeepingWhatPeersSend() {
    MirrorServer.Settings s = MirrorServer.Settings.parse(Map.of());

    assertThat(s.address()).contains(new InetSocketAddress("127.0.0.1", 7050));
    assertThat(s.tagMaxAge()).isEqualTo(Duration.ZERO);
    assertThat(s.keepFetched()).isTrue();
  }

  @Test
  void readsTheEnvironment() {
    MirrorServer.Settings s =
        MirrorServer.Settings.parse(
            Map.of(
                "LAYERNS_MIRROR_ADDRESS", "[::1]:5050",
                "LAYERNS_MIRROR_TAG_MAX_AGE", "30",
                "LAYERNS_MIRROR_KEEP", "false"));

    assertThat(s.address()).contains(new InetSocketAddress("::1", 5050));
    assertThat(s.tagMaxAge()).isEqualTo(Duration.ofSeconds(30));
    assertThat(s.keepFetched()).isFalse();
    assertThat(MirrorServer.Settings.parse(Map.of("LAYERNS_MIRROR_ADDRESS", "off")).address())
        .isEmpty();
  }

  @Test
  void namesTheVariableThatIsMalformed() {
    assertThatThrownBy(
            () -> MirrorServer.Settings.parse(Map.of("LAYERNS_MIRROR_ADDRESS", "127.0.0.1")))
        .hasMessageContaining("LAYERNS_MIRROR_ADDRESS=\"127.0.0.1\"");
    assertThatThrownBy(
            () -> MirrorServer.Settings.parse(Map.of("LAYERNS_MIRROR_ADDRESS", "h:1/path")))
        .hasMessageContaining("LAYERNS_MIRROR_ADDRESS");
    assertThatThrownBy(
            () -> MirrorServer.Settings.parse(Map.of("LAYERNS_MIRROR_TAG_MAX_AGE", "-1")))
        .hasMessageContaining("LAYERNS_MIRROR_TAG_MAX_AGE=\"-1\"");
    assertThatThrownBy(
            () -> MirrorServer.Settings.parse(Map.of("LAYERNS_MIRROR_TAG_MAX_AGE", "1m")))
        .hasMessageContaining("LAYERNS_MIRROR_TAG_MAX_AGE");
  }

  @Test
  void takesBasicCredentialsOnly() {
    String basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString("alice:pass:word".getBytes(StandardCharsets.UTF_8));

    assertThat(MirrorAccess.basic(basic)).contains(new Credentials("alice", "pass:word"));
    assertThat(MirrorAccess.basic(null)).isEmpty();
    assertThat(MirrorAccess.basic("Bearer abc")).isEmpty();
    assertThat(MirrorAccess.basic("Basic !!!")).isEmpty();
    assertThat(
            MirrorAccess.basic("Basic " + Base64.getEncoder().encodeToString("nocolon".getBytes())))
        .isEmpty();
  }
}
