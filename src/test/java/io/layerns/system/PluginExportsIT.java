package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node plugin process serves its store read-only over HTTP, SFTP and NFS and reports the three
 * endpoints in its LayerStore status; each is read back with a plain client (curl-like HTTP,
 * OpenSSH's sftp, libnfs's nfs-cat).
 */
@WithControlPlane
class PluginExportsIT {
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", "exports");
  private static final String ADDRESS = "127.0.1.5";

  @Test
  void pluginReportsAndServesItsThreeExports(ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    TestNodes.addReadyNode(client, "exports-1", POOL);
    TestLayers layer = TestLayers.of(Map.of("etc/motd", "served three ways\n"), 0, 1);
    Path store = dir.resolve("store");
    try (var s = io.layerns.csi.store.LayerStore.open(store)) {
      s.importLayer(
          layer.digest(), layer.diffId(), TestLayers.GZIP, new ByteArrayInputStream(layer.blob()));
    }
    Path keys = KubeletMounts.clusterKeyPair(dir.resolve("keys"));
    int nfsPort = freePort();

    try (var operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("exports-it"), Clock.systemUTC())) {
      operator.start();
      TestNodes.addNamespace(client, "exports", POOL, 1, Transport.Sshfs);
      ManagedProcess plugin =
          PluginProcess.start(
              cp,
              "exports-1",
              ADDRESS,
              dir,
              store,
              "--sftp-export-port=0",
              "--sftp-authorized-keys=" + keys.resolve("authorized_keys"),
              "--nfs-export-port=" + nfsPort,
              "--nfs-clients=127.0.0.1," + ADDRESS);
      try {
        StoreEndpoints endpoints =
            await("endpoints in LayerStore exports-1")
                .atMost(Duration.ofSeconds(90))
                .until(
                    () -> {
                      LayerStore st =
                          client.resources(LayerStore.class).withName("exports-1").get();
                      return st == null || st.getStatus() == null
                          ? null
                          : st.getStatus().endpoints();
                    },
                    e -> e != null && e.http() != null && e.sftp() != null && e.nfs() != null);

        // HTTP: the blob by digest, under any repository name, byte for byte.
        // Read as the node itself: its exports accept member nodes only, and it is the member.
        var http =
            HttpClient.newBuilder()
                .localAddress(InetAddress.getByName(ADDRESS))
                .build()
                .send(
                    HttpRequest.newBuilder(
                            URI.create(endpoints.http() + "/v2/any/name/blobs/" + layer.digest()))
                        .build(),
                    HttpResponse.BodyHandlers.ofByteArray());
        assertThat(http.statusCode()).isEqualTo(200);
        assertThat(
                "sha256:"
                    + HexFormat.of()
                        .formatHex(MessageDigest.getInstance("SHA-256").digest(http.body())))
            .isEqualTo(layer.digest().toString());

        // SFTP: the unpacked layer, with the host key from the status pinned.
        String[] sftp = endpoints.sftp().split(":");
        Path knownHosts =
            Files.writeString(
                dir.resolve("known_hosts"),
                "[" + sftp[0] + "]:" + sftp[1] + " " + endpoints.sftpHostKey() + "\n");
        Path batch =
            Files.writeString(
                dir.resolve("batch"),
                "get /sha256/"
                    + layer.digest().hex()
                    + "/diff/etc/motd "
                    + dir.resolve("motd")
                    + "\n");
        PluginProcess.run(
            List.of(
                "sftp",
                "-o",
                "BindAddress=" + ADDRESS,
                "-b",
                batch.toString(),
                "-P",
                sftp[1],
                "-i",
                keys.resolve("id").toString(),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "UserKnownHostsFile=" + knownHosts,
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "layerns@" + sftp[0]));
        assertThat(Files.readString(dir.resolve("motd"))).isEqualTo("served three ways\n");

        // NFS: the same file through nfs-ganesha, read with libnfs.
        String nfsPath = endpoints.nfs().substring(endpoints.nfs().indexOf(':') + 1);
        String nfs =
            PluginProcess.run(
                List.of(
                    "nfs-cat",
                    "nfs://"
                        + ADDRESS
                        + nfsPath
                        + "/sha256/"
                        + layer.digest().hex()
                        + "/diff/etc/motd?version=4&nfsport="
                        + nfsPort));
        assertThat(nfs).isEqualTo("served three ways\n");
      } finally {
        plugin.close();
      }
    }
  }

  private static int freePort() throws java.io.IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
