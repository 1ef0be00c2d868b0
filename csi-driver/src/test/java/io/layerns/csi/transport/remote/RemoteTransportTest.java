package io.layerns.csi.transport.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.Digest;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RemoteTransportTest {

  static final Digest LAYER = Digest.of("layer".getBytes());
  static final String HOST_KEY = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI";

  @TempDir Path tmp;

  @Test
  void sshfsMountsTheLayerReadOnlyWithRawSymlinksAndAPinnedHostKey() {
    var sshfs = new SshfsTransport("layerns", Path.of("/etc/layerns/id"), Path.of("/run/kh"));
    Peer peer = new Peer("node-2", "10.0.0.2", 2222, HOST_KEY);

    List<String> cmd = sshfs.mountCommand(peer, LAYER, Path.of("/var/lib/x/mnt/node-2/l"));

    assertThat(cmd.subList(0, 4))
        .containsExactly(
            "sshfs",
            "layerns@10.0.0.2:/sha256/" + LAYER.hex() + "/diff",
            "/var/lib/x/mnt/node-2/l",
            "-o");
    assertThat(cmd).hasSize(5);
    // Split at the commas that are not escaped (libfuse's -o syntax).
    assertThat(Arrays.asList(cmd.get(4).split("(?<!\\\\),")))
        .contains(
            "ro",
            "nodev",
            "no_contain_symlinks",
            "allow_other",
            "default_permissions",
            "reconnect",
            "BatchMode=yes",
            "IdentityFile=/etc/layerns/id",
            "IdentitiesOnly=yes",
            "UserKnownHostsFile=/run/kh/node-2",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            "port=2222",
            // AES-GCM first; never chacha20-poly1305, which the export computes in plain Java.
            "Ciphers=aes128-gcm@openssh.com\\,aes256-gcm@openssh.com\\,aes128-ctr\\,aes256-ctr")
        .anyMatch(o -> o.startsWith("ServerAliveInterval="))
        .noneMatch(o -> o.equals("follow_symlinks") || o.equals("transform_symlinks"))
        .noneMatch(o -> o.equals("rw"));
  }

  @Test
  void sshfsLeavesFromTheNodeAddressWhenGivenOne() throws Exception {
    Peer peer = new Peer("node-2", "10.0.0.2", 2222, HOST_KEY);
    Path mp = Path.of("/var/lib/x/mnt/node-2/l");

    var bound =
        new SshfsTransport(
            "layerns", Path.of("/id"), Path.of("/kh"), InetAddress.getByName("10.0.0.7"));
    var unbound =
        new SshfsTransport(
            "layerns", Path.of("/id"), Path.of("/kh"), InetAddress.getByName("0.0.0.0"));

    assertThat(bound.mountCommand(peer, LAYER, mp).get(4).split(","))
        .contains("BindAddress=10.0.0.7");
    assertThat(unbound.mountCommand(peer, LAYER, mp).get(4)).doesNotContain("BindAddress");
  }

  @Test
  void sshfsPinsThePeersHostKeyInItsOwnKnownHostsFile() throws Exception {
    var sshfs = new SshfsTransport("layerns", Path.of("/etc/layerns/id"), tmp.resolve("kh"));
    sshfs.prepare(new Peer("node-2", "10.0.0.2", 2222, HOST_KEY));
    sshfs.prepare(new Peer("node-3", "10.0.0.3", 22, HOST_KEY));

    assertThat(tmp.resolve("kh/node-2")).hasContent("[10.0.0.2]:2222 " + HOST_KEY);
    assertThat(tmp.resolve("kh/node-3")).hasContent("10.0.0.3 " + HOST_KEY);
    try (var files = Files.list(tmp.resolve("kh"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsOnly("node-2", "node-3");
    }
    assertThatThrownBy(() -> sshfs.prepare(Peer.of("node-4", "10.0.0.4", 22)))
        .hasMessageContaining("no SSH host key");
  }

  @Test
  void ipv6PeersAreBracketedNextToThePath() {
    var sshfs = new SshfsTransport("layerns", Path.of("/id"), Path.of("/kh"));
    Peer peer = new Peer("node-6", "fd00::6", 2222, HOST_KEY);

    assertThat(sshfs.mountCommand(peer, LAYER, Path.of("/m")).get(1))
        .isEqualTo("layerns@[fd00::6]:/sha256/" + LAYER.hex() + "/diff");
    assertThat(SshfsTransport.knownHostsLine(peer)).isEqualTo("[fd00::6]:2222 " + HOST_KEY + "\n");
    assertThat(new Nfs4Transport("/layerns").mountCommand(peer, LAYER, Path.of("/m")).get(5))
        .isEqualTo("[fd00::6]:/layerns/sha256/" + LAYER.hex() + "/diff");
  }

  @Test
  void nfsMountsTheLayerReadOnlyWithVersion42OnThePeersPort() {
    var nfs = new Nfs4Transport("/layerns");

    List<String> cmd =
        nfs.mountCommand(Peer.of("node-2", "10.0.0.2", 20490), LAYER, Path.of("/mnt/node-2/l"));

    assertThat(cmd)
        .containsExactly(
            "mount",
            "-t",
            "nfs4",
            "-o",
            "ro,nodev,vers=4.2,proto=tcp,port=20490,soft,timeo=100,retrans=5",
            "10.0.0.2:/layerns/sha256/" + LAYER.hex() + "/diff",
            "/mnt/node-2/l");
    assertThat(nfs.fsType()).isEqualTo("nfs4");
  }

  @Test
  void valuesThatWouldEscapeTheCommandOrOptionsAreRefused() {
    assertThatThrownBy(() -> new Peer("node-2", "10.0.0.2,follow_symlinks", 22, HOST_KEY))
        .hasMessageContaining("not a host address");
    assertThatThrownBy(() -> new Peer("../etc", "10.0.0.2", 22, HOST_KEY))
        .hasMessageContaining("not a node name");
    assertThatThrownBy(() -> new Peer("node-2", "10.0.0.2", 22, "ssh-ed25519 AAAA\n[evil] key"))
        .hasMessageContaining("not an OpenSSH public key");
    assertThatThrownBy(
            () -> new SshfsTransport("layerns", Path.of("/id,follow_symlinks"), Path.of("/kh")))
        .hasMessageContaining("unsafe");
    assertThatThrownBy(() -> new Nfs4Transport("/layerns/../etc"))
        .hasMessageContaining("not a pseudo path");
  }
}
