package io.layerns.csi.registration;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.CsiServer;
import io.layerns.csi.GrpcChannels;
import io.layerns.csi.registration.v1.InfoRequest;
import io.layerns.csi.registration.v1.RegistrationGrpc;
import io.layerns.csi.registration.v1.RegistrationStatus;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistrationServiceTest {

  @TempDir Path tmp;

  @Test
  void tellsTheKubeletWhereTheCsiSocketIsAndRecordsItsAnswer() throws Exception {
    Path hostEndpoint = Path.of("/var/lib/kubelet/plugins/csi.layerns.io/csi.sock");
    var service = new RegistrationService("csi.layerns.io", hostEndpoint);
    Path socket = RegistrationService.socketIn(tmp.resolve("plugins_registry"), "csi.layerns.io");
    assertThat(socket.getFileName()).hasToString("csi.layerns.io-reg.sock");

    try (var server = CsiServer.start(socket, List.of(service));
        var kubelet = new GrpcChannels(socket)) {
      var registration = RegistrationGrpc.newBlockingStub(kubelet.channel());

      var info = registration.getInfo(InfoRequest.getDefaultInstance());
      assertThat(info.getType()).isEqualTo("CSIPlugin");
      assertThat(info.getName()).isEqualTo("csi.layerns.io");
      assertThat(info.getEndpoint()).isEqualTo(hostEndpoint.toString());
      assertThat(info.getSupportedVersionsList()).containsExactly("1.0.0");

      assertThat(service.lastStatus()).isEmpty();
      registration.notifyRegistrationStatus(
          RegistrationStatus.newBuilder().setPluginRegistered(false).setError("version").build());
      assertThat(service.lastStatus())
          .hasValueSatisfying(s -> assertThat(s.getError()).isEqualTo("version"));
      registration.notifyRegistrationStatus(
          RegistrationStatus.newBuilder().setPluginRegistered(true).build());
      assertThat(service.lastStatus().orElseThrow().getPluginRegistered()).isTrue();
    }
  }
}
