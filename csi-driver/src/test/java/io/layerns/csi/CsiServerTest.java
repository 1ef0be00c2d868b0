package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import csi.v1.Csi.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import io.grpc.StatusRuntimeException;
import io.layerns.csi.identity.IdentityService;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CsiServerTest {

  @TempDir Path tmp;

  @Test
  void replacesAStaleSocketAndRemovesItsOwnOnClose() throws Exception {
    Path socket = tmp.resolve("plugin/csi.sock");
    Files.createDirectories(socket.getParent());
    // A socket file left behind by a process that died without cleaning up.
    try (var stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      stale.bind(UnixDomainSocketAddress.of(socket));
    }
    assertThat(socket).exists();

    var server = CsiServer.start(socket, List.of(new IdentityService("v", () -> true)));
    try (var client = new GrpcChannels(socket)) {
      assertThat(
              IdentityGrpc.newBlockingStub(client.channel())
                  .getPluginInfo(GetPluginInfoRequest.getDefaultInstance())
                  .getName())
          .isEqualTo("csi.layerns.io");
      server.close();
      assertThat(socket).doesNotExist();
      assertThatThrownBy(
              () ->
                  IdentityGrpc.newBlockingStub(client.channel())
                      .getPluginInfo(GetPluginInfoRequest.getDefaultInstance()))
          .isInstanceOf(StatusRuntimeException.class);
    }
  }

  @Test
  void refusesToReplaceAFileThatIsNotASocket() throws Exception {
    Path notASocket = Files.writeString(tmp.resolve("csi.sock"), "config");

    assertThatThrownBy(() -> CsiServer.start(notASocket, List.of()))
        .hasMessage(notASocket + " exists and is not a socket");
    assertThat(notASocket).hasContent("config");
  }
}
