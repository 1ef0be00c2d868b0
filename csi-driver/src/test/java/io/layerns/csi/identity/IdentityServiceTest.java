package io.layerns.csi.identity;

import static org.assertj.core.api.Assertions.assertThat;

import csi.v1.Csi.GetPluginCapabilitiesRequest;
import csi.v1.Csi.GetPluginInfoRequest;
import csi.v1.Csi.ProbeRequest;
import csi.v1.IdentityGrpc;
import io.layerns.csi.CsiServer;
import io.layerns.csi.GrpcChannels;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdentityServiceTest {

  @TempDir Path tmp;

  @Test
  void reportsNameVersionNoCapabilityAndReadiness() throws Exception {
    AtomicBoolean ready = new AtomicBoolean(false);
    try (var server =
            CsiServer.start(
                tmp.resolve("csi.sock"), List.of(new IdentityService("1.2.3", ready::get)));
        var client = new GrpcChannels(server.socket())) {
      var identity = IdentityGrpc.newBlockingStub(client.channel());

      var info = identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
      assertThat(info.getName()).isEqualTo("csi.layerns.io");
      assertThat(info.getVendorVersion()).isEqualTo("1.2.3");
      assertThat(
              identity
                  .getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance())
                  .getCapabilitiesList())
          .isEmpty();

      var probe = identity.probe(ProbeRequest.getDefaultInstance());
      assertThat(probe.hasReady()).isTrue();
      assertThat(probe.getReady().getValue()).isFalse();
      ready.set(true);
      assertThat(identity.probe(ProbeRequest.getDefaultInstance()).getReady().getValue()).isTrue();
    }
  }
}
