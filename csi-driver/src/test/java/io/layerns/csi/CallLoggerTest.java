package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;

import csi.v1.Csi.NodePublishVolumeRequest;
import org.junit.jupiter.api.Test;

class CallLoggerTest {

  @Test
  void secretsNeverReachTheLog() {
    var req =
        NodePublishVolumeRequest.newBuilder()
            .setVolumeId("vol-1")
            .setTargetPath("/mnt/t")
            .putVolumeContext("image", "app:1")
            .putSecrets("password", "hunter2")
            .build();

    String line = CallLogger.describe(req);

    assertThat(line)
        .contains("volume_id: \"vol-1\"", "target_path: \"/mnt/t\"", "app:1")
        .contains("secrets=" + CallLogger.STRIPPED)
        .doesNotContain("hunter2")
        .doesNotContain("password");
  }

  @Test
  void messagesWithoutSecretsAreLoggedWhole() {
    var req = NodePublishVolumeRequest.newBuilder().setVolumeId("vol-1").build();

    assertThat(CallLogger.describe(req)).isEqualTo("{volume_id: \"vol-1\"}");
  }
}
