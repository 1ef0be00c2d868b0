package io.layerns.csi.export.sftp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.layerns.csi.RealMounts;
import io.layerns.csi.export.Cmd;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.remote.CommandRemoteMounter;
import io.layerns.csi.transport.remote.Peer;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import io.layerns.csi.transport.remote.SshfsTransport;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SFTP export served by MINA on 127.0.1.2 and read through real sshfs mounts, as root. */
class SftpExportIT {

  private static final String HOST = "127.0.1.2";
  private static final Digest LAYER = Digest.of("sftp-export-it".getBytes());

  @TempDir Path tmp;

  private Path diff;
  private Path keys;
  private Set<java.security.PublicKey> memberKeys;
  private InetAddress clientAddress;
  private SftpExportServer server;
  private RemoteLayerMounts mounts;
  private final List<Path> overlays = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    RealMounts.assumeRoot();
    diff = Files.createDirectories(tmp.resolve("store/layers/sha256/" + LAYER.hex() + "/diff"));
    write("hello.txt", "hello from node-2\n");
    write("dir/nested/deep.txt", "deep\n");
    write("bin/tool", "#!/bin/sh\necho tool\n");
    Files.setPosixFilePermissions(
        diff.resolve("bin/tool"), PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.createDirectories(diff.resolve("etc"));
    Files.createSymbolicLink(diff.resolve("etc/passwd-link"), Path.of("/etc/passwd"));
    Files.createSymbolicLink(diff.resolve("etc/dir-link"), Path.of("/etc"));
    Files.createSymbolicLink(diff.resolve("dir/up-link"), Path.of("../hello.txt"));
    Files.createSymbolicLink(diff.resolve("escape"), Path.of("../../../../../../../etc"));

    keys = Files.createDirectories(tmp.resolve("keys"));
    Cmd.ok(
        "ssh-keygen",
        "-q",
        "-t",
        "ecdsa",
        "-b",
        "256",
        "-N",
        "",
        "-f",
        keys.resolve("id").toString());
    Cmd.ok(
        "ssh-keygen",
        "-q",
        "-t",
        "ecdsa",
        "-b",
        "256",
        "-N",
        "",
        "-f",
        keys.resolve("other").toString());
    memberKeys = Set.of(NodeKey.parsePublicKey(Files.readString(keys.resolve("id.pub"))));

    // The address this machine's client connections to HOST come from: the one member allowed.
    try (DatagramSocket probe = new DatagramSocket()) {
      probe.connect(new InetSocketAddress(HOST, 9));
      clientAddress = probe.getLocalAddress();
    }
    server =
        SftpExportServer.start(
            tmp.resolve("store/layers"),
            new SftpExportConfig(
                HOST,
                0,
                tmp.resolve("host/ssh_host_ecdsa_key"),
                memberKeys,
                SftpExportConfig.DEFAULT_USER,
                Optional.of(Set.of(clientAddress))));
    mounts = mountsWithKey("id");
  }

  @AfterEach
  void tearDown() throws Exception {
    // Overlays first (they keep the sshfs mounts busy), then whatever else a failed test left.
    for (Path o : overlays.reversed()) {
      new ProcessBuilder("umount", "-l", o.toString()).inheritIO().start().waitFor();
    }
    if (server != null) {
      server.close();
    }
    RealMounts.unmountAllUnder(tmp);
  }

  @Test
  void hostKeyIsKeptAcrossRestartsEvenInAFolderThatDidNotExistYet() throws Exception {
    // A new node's state folder does not exist yet; a key that is not kept changes on every
    // restart, and every peer that pinned it then refuses to reconnect.
    Path keyFile = tmp.resolve("fresh/state/ssh_host_ecdsa_key");
    SftpExportConfig config =
        new SftpExportConfig(
            HOST, 0, keyFile, memberKeys, SftpExportConfig.DEFAULT_USER, Optional.empty());
    String first;
    try (SftpExportServer s = SftpExportServer.start(tmp.resolve("store/layers"), config)) {
      first = s.hostPublicKey();
    }
    assertThat(keyFile).exists();
    try (SftpExportServer s = SftpExportServer.start(tmp.resolve("store/layers"), config)) {
      assertThat(s.hostPublicKey()).isEqualTo(first);
    }
  }

  @Test
  void sshfsMountShowsTheLayerWithContentModesAndRawSymlinks() throws Exception {
    Path mp = mounts.acquire(peer(), LAYER, "vol-1");

    assertThat(mp.resolve("hello.txt")).hasContent("hello from node-2");
    assertThat(mp.resolve("dir/nested/deep.txt")).hasContent("deep");
    assertThat(mp.resolve("bin/tool")).hasSameBinaryContentAs(diff.resolve("bin/tool"));
    assertThat(Files.getPosixFilePermissions(mp.resolve("bin/tool")))
        .isEqualTo(PosixFilePermissions.fromString("rwxr-xr-x"));
    assertThat(Files.readSymbolicLink(mp.resolve("etc/passwd-link")))
        .isEqualTo(Path.of("/etc/passwd"));
    assertThat(Files.readSymbolicLink(mp.resolve("etc/dir-link"))).isEqualTo(Path.of("/etc"));
    assertThat(Files.readSymbolicLink(mp.resolve("dir/up-link")))
        .isEqualTo(Path.of("../hello.txt"));
    assertThat(Files.readSymbolicLink(mp.resolve("escape")))
        .isEqualTo(Path.of("../../../../../../../etc"));
    // The client resolves a relative link in its own view of the layer.
    assertThat(mp.resolve("dir/up-link")).hasContent("hello from node-2");
    assertThat(tree(mp)).isEqualTo(tree(diff));

    assertThatThrownBy(() -> Files.writeString(mp.resolve("hello.txt"), "changed"))
        .isInstanceOf(FileSystemException.class)
        .hasMessageContaining("Read-only file system");
    assertThatThrownBy(() -> Files.createFile(mp.resolve("new.txt")))
        .hasMessageContaining("Read-only file system");
    assertThat(diff.resolve("hello.txt")).hasContent("hello from node-2");
    assertThat(diff.resolve("new.txt")).doesNotExist();
  }

  @Test
  void volumesShareOneMountAndTheLastReleaseUnmounts() throws Exception {
    Path first = mounts.acquire(peer(), LAYER, "vol-1");
    Path second = mounts.acquire(peer(), LAYER, "vol-2");

    assertThat(second).isEqualTo(first);
    assertThat(sshfsMounts())
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.mountPoint()).isEqualTo(first.toString());
              assertThat(e.source())
                  .isEqualTo("layerns@" + HOST + ":/sha256/" + LAYER.hex() + "/diff");
              assertThat(e.mountOptions()).startsWith("ro,");
            });

    mounts.release("node-2", LAYER, "vol-1");
    assertThat(sshfsMounts()).hasSize(1);
    assertThat(first.resolve("hello.txt")).hasContent("hello from node-2");

    mounts.release("node-2", LAYER, "vol-2");
    assertThat(sshfsMounts()).isEmpty();
    assertThat(first).doesNotExist();
  }

  @Test
  void aRestartedAgentKeepsUsingTheMountItFinds() throws Exception {
    Path mp = mounts.acquire(peer(), LAYER, "vol-1");

    RemoteLayerMounts restarted = mountsWithKey("id");

    assertThat(restarted.holders()).containsKey(new RemoteLayer("node-2", LAYER));
    assertThat(restarted.acquire(peer(), LAYER, "vol-2")).isEqualTo(mp);
    assertThat(sshfsMounts()).hasSize(1);
    restarted.release("node-2", LAYER, "vol-1");
    restarted.release("node-2", LAYER, "vol-2");
    assertThat(sshfsMounts()).isEmpty();
  }

  @Test
  void aKeyThatIsNotAuthorizedIsRefused() throws Exception {
    RemoteLayerMounts stranger = mountsWithKey("other");

    // sshfs itself only says that the connection went away; ssh says why (below).
    assertThatThrownBy(() -> stranger.acquire(peer(), LAYER, "vol-1"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("sshfs")
        .hasMessageContaining("failed");

    assertThat(sshfsMounts()).isEmpty();
    assertThat(stranger.holders()).isEmpty();
    assertThat(sftp("other", List.of(), "ls /").output()).contains("Permission denied (publickey)");
  }

  @Test
  void aKeyTakenOffTheMemberListIsRefusedAndItsOpenSessionCloses() throws Exception {
    java.security.PublicKey other =
        NodeKey.parsePublicKey(Files.readString(keys.resolve("other.pub")));
    server.allowKeys(Set.of(memberKeys.iterator().next(), other));
    assertThat(sftp("other", List.of(), "ls /sha256").output()).contains(LAYER.hex());
    try (org.apache.sshd.client.SshClient client =
        org.apache.sshd.client.SshClient.setUpDefaultClient()) {
      client.setServerKeyVerifier(
          new org.apache.sshd.client.keyverifier.RequiredServerKeyVerifier(server.hostKey()));
      client.start();
      org.apache.sshd.client.session.ClientSession session =
          client
              .connect("layerns", server.address().getHostString(), server.address().getPort())
              .verify(Duration.ofSeconds(20))
              .getSession();
      session.addPublicKeyIdentity(
          org.apache.sshd.common.util.security.SecurityUtils.loadKeyPairIdentities(
                  null,
                  () -> "other",
                  Files.newInputStream(keys.resolve("other")),
                  org.apache.sshd.common.config.keys.FilePasswordProvider.EMPTY)
              .iterator()
              .next());
      session.auth().verify(Duration.ofSeconds(20));
      assertThat(session.isAuthenticated()).isTrue();

      // The node of "other" left the namespace.
      server.allowKeys(memberKeys);

      await().atMost(Duration.ofSeconds(10)).until(() -> !session.isOpen());
      assertThat(sftp("other", List.of(), "ls /sha256").output())
          .contains("Permission denied (publickey)")
          .doesNotContain(LAYER.hex());
      // The members that stay keep their way in.
      assertThat(sftp("id", List.of(), "ls /sha256").output()).contains(LAYER.hex());
    }
  }

  @Test
  void aPasswordIsRefusedEvenForTheRightUser() throws Exception {
    // A real password attempt with an SSH client library (ssh itself would not even try one,
    // since the server offers only publickey).
    try (org.apache.sshd.client.SshClient client =
        org.apache.sshd.client.SshClient.setUpDefaultClient()) {
      client.setServerKeyVerifier(
          org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier.INSTANCE);
      client.start();
      try (org.apache.sshd.client.session.ClientSession session =
          client
              .connect("layerns", server.address().getHostString(), server.address().getPort())
              .verify(Duration.ofSeconds(20))
              .getSession()) {
        session.addPasswordIdentity("layerns");
        assertThatThrownBy(() -> session.auth().verify(Duration.ofSeconds(20)))
            .isInstanceOf(org.apache.sshd.common.SshException.class)
            .hasMessageContaining("No more authentication methods available");
        assertThat(session.isAuthenticated()).isFalse();
      }
    }
    assertThat(
            Cmd.run(
                    concat(
                        sshBase("id"),
                        List.of(
                            "-v",
                            "-o",
                            "PreferredAuthentications=password",
                            "layerns@" + HOST,
                            "true")))
                .output())
        .contains("Authentications that can continue: publickey")
        .contains("Permission denied (publickey)");
  }

  @Test
  void aClientAddressThatIsNotAMemberIsRefusedBeforeAuthentication() throws Exception {
    assertThat(clientAddress.getHostAddress()).isNotEqualTo("127.0.1.9");

    Cmd member = sftp("id", List.of(), "ls /sha256");
    Cmd stranger = sftp("id", List.of("-o", "BindAddress=127.0.1.9"), "ls /sha256");

    assertThat(member.exitCode()).as(member.toString()).isZero();
    assertThat(member.output()).contains(LAYER.hex());
    assertThat(stranger.exitCode()).isNotZero();
    assertThat(stranger.output()).doesNotContain(LAYER.hex()).containsIgnoringCase("closed");

    // Membership changes take effect for new connections.
    server.allowClients(Optional.of(Set.of(clientAddress, InetAddress.getByName("127.0.1.9"))));
    assertThat(sftp("id", List.of("-o", "BindAddress=127.0.1.9"), "ls /sha256").output())
        .contains(LAYER.hex());
  }

  @Test
  void theServerRefusesEveryChange() throws Exception {
    String layer = "/sha256/" + LAYER.hex() + "/diff";
    Path local = Files.writeString(tmp.resolve("upload.txt"), "upload");
    Set<String> before = tree(diff);
    List<String> changes =
        List.of(
            "put " + local + " " + layer + "/new.txt",
            "put " + local + " " + layer + "/hello.txt",
            "mkdir " + layer + "/newdir",
            "rm " + layer + "/hello.txt",
            "rmdir " + layer + "/dir/nested",
            "rename " + layer + "/hello.txt " + layer + "/moved.txt",
            "chmod 777 " + layer + "/hello.txt",
            "ln -s /etc/shadow " + layer + "/shadow-link",
            "ln " + layer + "/hello.txt " + layer + "/hard-link");

    for (String change : changes) {
      Cmd c = sftp("id", List.of(), change);
      assertThat(c.exitCode()).as(change + ": " + c.output()).isNotZero();
      assertThat(c.output()).as(change).contains("Permission denied");
    }
    assertThat(tree(diff)).isEqualTo(before);
    assertThat(diff.resolve("hello.txt")).hasContent("hello from node-2");
  }

  @Test
  void theServerNeverFollowsASymlink() throws Exception {
    String layer = "/sha256/" + LAYER.hex() + "/diff";
    Path out = tmp.resolve("fetched");

    Cmd viaFileLink = sftp("id", List.of(), "get " + layer + "/etc/passwd-link " + out);
    Cmd viaDirLink = sftp("id", List.of(), "get " + layer + "/etc/dir-link/passwd " + out);
    Cmd listDirLink = sftp("id", List.of(), "ls " + layer + "/etc/dir-link/");
    Cmd viaEscape = sftp("id", List.of(), "get " + layer + "/escape/passwd " + out);

    for (Cmd c : List.of(viaFileLink, viaDirLink, viaEscape)) {
      assertThat(c.exitCode()).as(c.toString()).isNotZero();
      assertThat(c.output()).doesNotContain("root:x:0:0");
    }
    // sftp's ls prints the link's own name (an lstat), never what the holder's /etc holds.
    assertThat(listDirLink.output()).doesNotContain("passwd").doesNotContain("hosts");
    assertThat(out).doesNotExist();
    // Outside the root there is nothing to see either.
    assertThat(sftp("id", List.of(), "get /../../../../etc/passwd " + out).exitCode()).isNotZero();
    assertThat(out).doesNotExist();
  }

  @Test
  void onlyAesWithAeadOrAnSha2MacIsNegotiated() throws Exception {
    Cmd gcm = sftp("id", List.of("-v", "-o", "Ciphers=aes256-gcm@openssh.com"), "ls /sha256");
    Cmd chacha = sftp("id", List.of("-o", "Ciphers=chacha20-poly1305@openssh.com"), "ls /sha256");
    Cmd cbc = sftp("id", List.of("-o", "Ciphers=aes128-cbc"), "ls /sha256");
    Cmd sha1 =
        sftp("id", List.of("-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1"), "ls /sha256");

    assertThat(gcm.exitCode()).as(gcm.toString()).isZero();
    assertThat(gcm.output()).contains(LAYER.hex()).contains("cipher: aes256-gcm@openssh.com");
    assertThat(chacha.exitCode()).isNotZero();
    assertThat(chacha.output()).contains("no matching cipher");
    assertThat(cbc.exitCode()).isNotZero();
    assertThat(cbc.output()).contains("no matching cipher");
    assertThat(sha1.exitCode()).isNotZero();
    assertThat(sha1.output()).contains("no matching MAC");
  }

  @Test
  void onlySftpIsOffered() throws Exception {
    List<String> ssh = sshBase("id");

    Cmd exec = Cmd.run(concat(ssh, List.of("layerns@" + HOST, "id")));
    Cmd forward = Cmd.run(concat(ssh, List.of("-W", "127.0.0.1:22", "layerns@" + HOST)));

    assertThat(exec.exitCode()).as(exec.toString()).isNotZero();
    assertThat(exec.output()).doesNotContain("uid=");
    assertThat(forward.exitCode()).as(forward.toString()).isNotZero();
    assertThat(forward.output()).contains("administratively prohibited");
  }

  @Test
  void anOverlayOfALocalLayerAndTheRemoteLayerShowsTheMergedTree() throws Exception {
    Path local = Files.createDirectories(tmp.resolve("local-layer"));
    Files.writeString(local.resolve("hello.txt"), "from the local base layer");
    Files.writeString(local.resolve("base-only.txt"), "base");
    Files.createDirectories(local.resolve("dir"));
    Files.writeString(local.resolve("dir/local.txt"), "local");
    Path remote = mounts.acquire(peer(), LAYER, "vol-1");
    Path target = Files.createDirectories(tmp.resolve("volume"));

    new CommandMounter(tmp.resolve("scratch")).mountReadOnlyOverlay(List.of(local, remote), target);
    overlays.add(target);

    assertThat(target.resolve("hello.txt")).hasContent("hello from node-2");
    assertThat(target.resolve("base-only.txt")).hasContent("base");
    assertThat(target.resolve("dir/local.txt")).hasContent("local");
    assertThat(target.resolve("dir/nested/deep.txt")).hasContent("deep");
    assertThat(Files.readSymbolicLink(target.resolve("etc/passwd-link")))
        .isEqualTo(Path.of("/etc/passwd"));
    assertThat(target.resolve("dir/up-link")).hasContent("hello from node-2");
    assertThat(Files.isExecutable(target.resolve("bin/tool"))).isTrue();
  }

  @Test
  void aMountWhosePeerIsGoneIsReportedDead() throws Exception {
    Path mp = mounts.acquire(peer(), LAYER, "vol-1");
    assertThat(mounts.health()).isEmpty();

    server.close();
    server = null;

    await()
        .atMost(Duration.ofSeconds(45))
        .untilAsserted(
            () ->
                assertThat(mounts.health())
                    .singleElement()
                    .satisfies(
                        d -> {
                          assertThat(d.layer()).isEqualTo(new RemoteLayer("node-2", LAYER));
                          assertThat(d.mountPoint()).isEqualTo(mp);
                          assertThat(d.reason()).isNotBlank().isNotEqualTo("not mounted");
                        }));
  }

  // ---- helpers ------------------------------------------------------------------------------

  private Peer peer() {
    return new Peer("node-2", HOST, server.address().getPort(), server.hostPublicKey());
  }

  private RemoteLayerMounts mountsWithKey(String key) throws IOException {
    return RemoteLayerMounts.open(
        tmp.resolve("agent-" + key),
        new SshfsTransport(
            "layerns", keys.resolve(key), tmp.resolve("agent-" + key + "/known_hosts")),
        new CommandRemoteMounter(Duration.ofSeconds(10)));
  }

  private List<MountTable.Entry> sshfsMounts() throws IOException {
    return MountTable.mountsUnder(tmp).stream()
        .filter(e -> e.fsType().equals("fuse.sshfs"))
        .toList();
  }

  private List<String> sshBase(String key) throws IOException {
    Path knownHosts = tmp.resolve("client_known_hosts");
    Files.writeString(
        knownHosts,
        "[" + HOST + "]:" + server.address().getPort() + " " + server.hostPublicKey() + "\n");
    return List.of(
        "ssh",
        "-p",
        Integer.toString(server.address().getPort()),
        "-i",
        keys.resolve(key).toString(),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "UserKnownHostsFile=" + knownHosts,
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes");
  }

  /** Runs one sftp batch command as a client with {@code key}. */
  private Cmd sftp(String key, List<String> extra, String command) throws Exception {
    Path batch = Files.writeString(Files.createTempFile(tmp, "batch-", ".txt"), command + "\n");
    List<String> ssh = sshBase(key);
    List<String> cmd = new ArrayList<>(List.of("sftp", "-b", batch.toString(), "-P", ssh.get(2)));
    cmd.addAll(ssh.subList(3, ssh.size()));
    cmd.addAll(extra);
    cmd.add("layerns@" + HOST);
    return Cmd.run(cmd);
  }

  private static List<String> concat(List<String> a, List<String> b) {
    return Stream.concat(a.stream(), b.stream()).toList();
  }

  /** Each entry as "path type mode size target", without following links. */
  private static Set<String> tree(Path root) throws IOException {
    try (Stream<Path> all = Files.walk(root)) {
      return all.filter(p -> !p.equals(root))
          .map(
              p -> {
                try {
                  String rel = root.relativize(p).toString();
                  if (Files.isSymbolicLink(p)) {
                    return rel + " link " + Files.readSymbolicLink(p);
                  }
                  String mode =
                      PosixFilePermissions.toString(
                          Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
                  if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    return rel + " dir " + mode;
                  }
                  return rel + " file " + mode + " " + Files.size(p);
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              })
          .collect(java.util.stream.Collectors.toSet());
    }
  }

  private void write(String file, String content) throws IOException {
    Path p = diff.resolve(file);
    Files.createDirectories(p.getParent());
    Files.writeString(p, content);
  }
}
