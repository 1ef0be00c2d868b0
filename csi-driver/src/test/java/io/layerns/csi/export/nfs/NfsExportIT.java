package io.layerns.csi.export.nfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.layerns.csi.RealMounts;
import io.layerns.csi.export.Cmd;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NFS export: a real nfs-ganesha on 127.0.1.3, read back with libnfs's nfs-ls and nfs-cat
 * (there is no kernel NFS client on the build machines), as root.
 */
class NfsExportIT {

  private static final String HOST = "127.0.1.3";
  private static final String PSEUDO = "/layerns";
  private static final Digest LAYER = Digest.of("nfs-export-it".getBytes());
  private static final Digest SECRET = Digest.of("nfs-export-it private".getBytes());

  /** libnfs's words when the server hides the export from a client that is not a member. */
  private static final String NOT_EXPORTED = "NFS4ERR_NOENT";

  @TempDir Path tmp;

  private Path layers;
  private Path diff;
  private int port;
  private String clientAddress;
  private NfsExport export;

  @BeforeEach
  void setUp() throws Exception {
    RealMounts.assumeRoot();
    layers = tmp.resolve("store/layers");
    diff = Files.createDirectories(layers.resolve("sha256/" + LAYER.hex() + "/diff"));
    Files.writeString(diff.resolve("hello.txt"), "hello over nfs\n");
    Files.createDirectories(diff.resolve("bin"));
    Files.writeString(diff.resolve("bin/tool"), "#!/bin/sh\n");
    Files.setPosixFilePermissions(
        diff.resolve("bin/tool"), PosixFilePermissions.fromString("rwxr-xr-x"));
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(HOST, 0));
      port = s.getLocalPort();
    }
    // The address libnfs's connections to HOST come from; libnfs cannot pick another one.
    try (DatagramSocket probe = new DatagramSocket()) {
      probe.connect(new InetSocketAddress(HOST, 9));
      clientAddress = probe.getLocalAddress().getHostAddress();
    }
  }

  @AfterEach
  void tearDown() {
    if (export != null) {
      export.close();
    }
  }

  @Test
  void membersReadTheLayerAndCannotWriteIt() throws Exception {
    export = NfsExport.start(config(List.of(clientAddress)));

    Cmd ls = Cmd.run(List.of("nfs-ls", url("")));
    Cmd cat = Cmd.run(List.of("nfs-cat", url("/hello.txt")));
    Path upload = Files.writeString(tmp.resolve("upload.txt"), "upload");
    Cmd cp = Cmd.run(List.of("nfs-cp", upload.toString(), url("/new.txt")));

    assertThat(ls.exitCode()).as(ls.toString()).isZero();
    assertThat(ls.output()).contains("hello.txt").contains("bin");
    assertThat(cat.exitCode()).as(cat.toString()).isZero();
    assertThat(cat.output()).isEqualTo("hello over nfs\n");
    assertThat(cp.exitCode()).as(cp.toString()).isNotZero();
    assertThat(cp.output()).contains("NFS4ERR_ROFS");
    assertThat(diff.resolve("new.txt")).doesNotExist();
  }

  @Test
  void aClientThatIsNotAMemberSeesNothing() throws Exception {
    // libnfs cannot bind a source address, so the member list leaves this machine's address out.
    assertThat(clientAddress).isNotEqualTo("127.0.1.1");
    export = NfsExport.start(config(List.of("127.0.1.1")));

    Cmd ls = Cmd.run(List.of("nfs-ls", url("")));
    Cmd cat = Cmd.run(List.of("nfs-cat", url("/hello.txt")));

    assertThat(ls.exitCode()).as(ls.toString()).isNotZero();
    assertThat(cat.exitCode()).as(cat.toString()).isNotZero();
    // Ganesha's pseudo file system shows a non-member no export: the path does not exist for it.
    assertThat(ls.output()).contains(NOT_EXPORTED);
    assertThat(cat.output()).contains(NOT_EXPORTED);
    assertThat(cat.output()).doesNotContain("hello over nfs");
    assertThat(Files.readString(export.configFile())).contains("Clients = 127.0.1.1;");
  }

  @Test
  void membershipChangesReachTheRunningExportWithoutARestart() throws Exception {
    export = NfsExport.start(config(List.of("127.0.1.1")));
    long pid = export.pid().orElseThrow();
    assertThat(Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output()).contains(NOT_EXPORTED);

    // This machine's address joins: it reads the layer once ganesha has reloaded.
    export.allowClients(List.of("127.0.1.1", clientAddress));
    assertThat(Files.readString(export.configFile()))
        .contains("Clients = 127.0.1.1, " + clientAddress + ";");
    await("the new member reads the export")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () ->
                Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output().equals("hello over nfs\n"));

    // It leaves again: refused once more.
    export.allowClients(List.of("127.0.1.1"));
    await("the former member is refused")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output().contains(NOT_EXPORTED));
    assertThat(export.pid()).contains(pid);
    assertThat(export.restarts()).isZero();
  }

  @Test
  void listensOnlyOnTheGivenAddress() throws Exception {
    export = NfsExport.start(config(List.of(clientAddress)));

    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(HOST, port), 2000);
    }
    assertThatThrownBy(
            () -> {
              try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
              }
            })
        .isInstanceOf(IOException.class);
  }

  @Test
  void ganeshaThatDiesIsRestartedAndServesAgain() throws Exception {
    export = NfsExport.start(config(List.of(clientAddress)));
    long first = export.pid().orElseThrow();

    Cmd.ok("kill", "-9", Long.toString(first));

    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> export.restarts() == 1 && export.pid().filter(p -> p != first).isPresent());
    Cmd cat = Cmd.run(List.of("nfs-cat", url("/hello.txt")));
    assertThat(cat.output()).isEqualTo("hello over nfs\n");
  }

  @Test
  void closeStopsGaneshaForGood() throws Exception {
    export = NfsExport.start(config(List.of(clientAddress)));
    long pid = export.pid().orElseThrow();

    export.close();

    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).isNotEqualTo(Optional.of(true));
    assertThat(export.restarts()).isZero();
    // Nothing listens any more: refused at connect, not hidden by the export.
    assertThat(Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output())
        .contains("nfs_service failed");
  }

  @Test
  void aGaneshaLeftByAnEarlierAgentIsReplaced() throws Exception {
    // What a node agent killed with -9 leaves behind: its ganesha, with the same files.
    GaneshaConfig config = config(List.of(clientAddress));
    Path state = Files.createDirectories(config.stateDir().resolve("recovery")).getParent();
    Files.writeString(state.resolve("ganesha.conf"), config.render());
    Process orphan =
        new ProcessBuilder(
                NfsExport.GANESHA,
                "-F",
                "-f",
                state.resolve("ganesha.conf").toString(),
                "-L",
                state.resolve("ganesha.log").toString(),
                "-p",
                state.resolve("ganesha.pid").toString())
            .redirectErrorStream(true)
            .redirectOutput(state.resolve("orphan.out").toFile())
            .start();
    try {
      await()
          .atMost(Duration.ofSeconds(30))
          .until(
              () ->
                  Files.exists(state.resolve("ganesha.pid"))
                      && Cmd.run(List.of("nfs-cat", url("/hello.txt"))).exitCode() == 0);

      export = NfsExport.start(config);

      assertThat(orphan.isAlive()).isFalse();
      assertThat(export.pid()).isPresent().isNotEqualTo(Optional.of(orphan.pid()));
      assertThat(Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output())
          .isEqualTo("hello over nfs\n");
    } finally {
      orphan.destroyForcibly().waitFor();
    }
  }

  @Test
  void onlyTheLayersItIsToldToExportAreThereEvenForRootFromAMember() throws Exception {
    // A second layer in the store, private: libnfs asks as uid 0 (AUTH_SYS, not squashed) from a
    // member's address, as a userspace client in a pod on a member node can.
    Path secretDiff = Files.createDirectories(layers.resolve("sha256/" + SECRET.hex() + "/diff"));
    Files.writeString(secretDiff.resolve("secret.txt"), "private bytes\n");
    export = NfsExport.start(config(List.of(clientAddress)));
    long pid = export.pid().orElseThrow();

    Cmd secret = Cmd.run(List.of("nfs-cat", url(SECRET, "/secret.txt")));
    Cmd listing =
        Cmd.run(List.of("nfs-ls", "nfs://" + HOST + PSEUDO + "/sha256?version=4&nfsport=" + port));

    assertThat(secret.exitCode()).as(secret.toString()).isNotZero();
    assertThat(secret.output()).contains(NOT_EXPORTED).doesNotContain("private bytes");
    assertThat(listing.output()).contains(LAYER.hex()).doesNotContain(SECRET.hex());
    assertThat(Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output())
        .isEqualTo("hello over nfs\n");

    // The layer set changes at a reload, without a restart: the public one goes, the other comes.
    export.exportLayers(List.of(SECRET));
    await("the newly exported layer is read")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () ->
                Cmd.run(List.of("nfs-cat", url(SECRET, "/secret.txt")))
                    .output()
                    .equals("private bytes\n"));
    await("the layer no longer exported is gone")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output().contains(NOT_EXPORTED));
    assertThat(export.layers()).containsExactly(SECRET.hex());
    assertThat(export.pid()).contains(pid);
    assertThat(export.restarts()).isZero();
  }

  @Test
  void aLayerExportedAgainAfterARestartGetsItsExportIdBack() throws Exception {
    Files.createDirectories(layers.resolve("sha256/" + SECRET.hex() + "/diff"));
    export = NfsExport.start(config(List.of(clientAddress)));
    export.exportLayers(List.of(LAYER, SECRET));
    Map<String, Integer> ids = NfsExport.layersIn(export.configFile());
    assertThat(ids).containsOnlyKeys(LAYER.hex(), SECRET.hex());
    export.close();

    // The next agent starts with no layer and exports the store's public layers, the other first.
    export =
        NfsExport.start(
            new GaneshaConfig(
                layers.toRealPath(),
                PSEUDO,
                HOST,
                port,
                List.of(clientAddress),
                tmp.resolve("nfs-state")));
    export.exportLayers(List.of(SECRET));
    export.exportLayers(List.of(SECRET, LAYER));

    assertThat(NfsExport.layersIn(export.configFile())).isEqualTo(ids);
    assertThat(Cmd.run(List.of("nfs-cat", url("/hello.txt"))).output())
        .isEqualTo("hello over nfs\n");
  }

  /** The store's layers folder, exporting {@link #LAYER} only. */
  private GaneshaConfig config(List<String> clients) throws IOException {
    return new GaneshaConfig(
            layers.toRealPath(), PSEUDO, HOST, port, clients, tmp.resolve("nfs-state"))
        .withLayers(new TreeMap<>(Map.of(LAYER.hex(), 1)));
  }

  private String url(String file) {
    return url(LAYER, file);
  }

  private String url(Digest layer, String file) {
    return "nfs://"
        + HOST
        + PSEUDO
        + "/sha256/"
        + layer.hex()
        + "/diff"
        + file
        + "?version=4&nfsport="
        + port;
  }
}
