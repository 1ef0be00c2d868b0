package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Registries on a non-loopback address, reached as a containerd-style {@code certs.d/<host:port>/
 * hosts.toml} says: plain HTTP, TLS with the cluster's own CA, TLS with skip_verify. The address
 * exists only in a network namespace this test creates; both the registries (Debian's
 * docker-registry) and the puller (the plugin's registry client in a child JVM) run inside it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RegistryTransportIT {
  /** TEST-NET-1: documentation addresses, here only inside the test's namespace. */
  private static final String ADDRESS = "192.0.2.10";

  private static final String PLAIN = ADDRESS + ":5000";
  private static final String TLS = ADDRESS + ":5443";
  private static final String REPOSITORY = "team/app";

  private final TestImage image = TestImage.threeLayers("transport", Platform.LINUX_AMD64);
  private final List<AutoCloseable> running = new ArrayList<>();
  private NetworkNamespace ns;
  private Path dir;
  private Path caCert;

  @BeforeAll
  void start(@TempDir Path tmp) throws Exception {
    dir = tmp;
    // Pushed over loopback in the machine's namespace, then served from the same storage inside
    // the test's namespace.
    PublishRegistry loopback = PublishRegistry.start(Files.createDirectories(dir.resolve("reg")));
    running.add(loopback);
    new RegistryPusher("http://" + loopback.host(), null).push(REPOSITORY, image, "1.0");
    ns = NetworkNamespace.create("layerns-reg-" + ProcessHandle.current().pid(), ADDRESS);
    Path[] tls = serverCertificate(dir.resolve("pki"));
    running.add(loopback.serveInNamespace(ns, PLAIN, null, dir.resolve("plain")));
    running.add(loopback.serveInNamespace(ns, TLS, tls, dir.resolve("tls")));
  }

  @AfterAll
  void stop() throws Exception {
    for (AutoCloseable c : running.reversed()) {
      c.close();
    }
    if (ns != null) {
      ns.close();
    }
  }

  @Test
  void plainHttpRegistryIsPulledWhenItsHostsTomlNamesAnHttpServer() throws Exception {
    Path certs = certsD("plain", PLAIN, "server = \"http://" + PLAIN + "\"\n");
    assertPulled(pull(certs, PLAIN));
  }

  @Test
  void plainHttpRegistryWithoutHostsTomlIsTriedOverHttpsAndFails() throws Exception {
    Path certs = Files.createDirectories(dir.resolve("empty-certs.d"));
    assertRefused(pull(certs, PLAIN)).contains("https://" + PLAIN);
  }

  @Test
  void tlsRegistryIsPulledWithTheCaItsHostsTomlNames() throws Exception {
    Path certs =
        certsD(
            "ca",
            TLS,
            """
            server = "https://%s"

            [host."https://%s"]
              capabilities = ["pull", "resolve"]
              ca = "cluster-ca.crt"
            """
                .formatted(TLS, TLS));
    Files.copy(caCert, certs.resolve(TLS).resolve("cluster-ca.crt"));
    assertPulled(pull(certs, TLS));
  }

  @Test
  void tlsRegistryWithAnUnknownCaIsRefused() throws Exception {
    Path certs = certsD("no-ca", TLS, "server = \"https://" + TLS + "\"\n");
    assertRefused(pull(certs, TLS)).containsIgnoringCase("certificat");
  }

  @Test
  void tlsRegistryIsPulledWithSkipVerify() throws Exception {
    Path certs = certsD("skip", TLS, "server = \"https://" + TLS + "\"\nskip_verify = true\n");
    assertPulled(pull(certs, TLS));
  }

  @Test
  void malformedHostsTomlFailsThePullNamingTheFileAndKey() throws Exception {
    Path certs = certsD("bad", PLAIN, "server = \"http://" + PLAIN + "\"\nskip_verify = \"no\"\n");
    assertRefused(pull(certs, PLAIN))
        .contains(certs.resolve(PLAIN).resolve("hosts.toml").toString())
        .contains("skip_verify must be true or false");
  }

  private record Pull(int exit, String output, Path store) {}

  /** A certs.d folder with one registry's hosts.toml. */
  private Path certsD(String name, String registry, String hostsToml) throws IOException {
    Path certs = dir.resolve(name + "-certs.d");
    Files.createDirectories(certs.resolve(registry));
    Files.writeString(certs.resolve(registry).resolve("hosts.toml"), hostsToml);
    return certs;
  }

  private Pull pull(Path certs, String registry) throws Exception {
    Path store = Files.createTempDirectory(dir, "store");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        ns.command(
            List.of(
                java.toString(),
                "-Xmx128m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                System.getProperty("java.class.path"),
                PullInNamespace.class.getName(),
                certs.toString(),
                store.toString(),
                registry + "/" + REPOSITORY + ":1.0"));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    return new Pull(p.waitFor(), out, store);
  }

  /** The pull failed; returns its output (the error) to check. */
  private static org.assertj.core.api.AbstractStringAssert<?> assertRefused(Pull pull) {
    assertThat(pull.exit()).as(pull.output()).isEqualTo(1);
    return assertThat(pull.output());
  }

  private void assertPulled(Pull pull) throws IOException {
    assertThat(pull.exit()).as(pull.output()).isZero();
    try (LocalLayerStore store = LocalLayerStore.open(pull.store())) {
      for (TestImage.Layer layer : image.layers()) {
        assertThat(pull.output()).contains("layer " + layer.digest());
        assertThat(store.hasBlob(layer.digest())).as(layer.digest().toString()).isTrue();
      }
    }
  }

  /** A CA of the test's and a certificate it signs for {@link #ADDRESS}; sets {@link #caCert}. */
  private Path[] serverCertificate(Path pki) throws Exception {
    Files.createDirectories(pki);
    caCert = pki.resolve("ca.crt");
    Path caKey = pki.resolve("ca.key");
    Path key = pki.resolve("server.key");
    Path csr = pki.resolve("server.csr");
    Path cert = pki.resolve("server.crt");
    Path ext = pki.resolve("san.ext");
    Files.writeString(ext, "subjectAltName=IP:" + ADDRESS + "\n");
    String ec = "ec:" + ecParams(pki);
    PluginProcess.run(
        List.of(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            ec,
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=layerns test CA",
            "-keyout",
            caKey.toString(),
            "-out",
            caCert.toString()));
    PluginProcess.run(
        List.of(
            "openssl",
            "req",
            "-newkey",
            ec,
            "-nodes",
            "-subj",
            "/CN=" + ADDRESS,
            "-keyout",
            key.toString(),
            "-out",
            csr.toString()));
    PluginProcess.run(
        List.of(
            "openssl",
            "x509",
            "-req",
            "-in",
            csr.toString(),
            "-CA",
            caCert.toString(),
            "-CAkey",
            caKey.toString(),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            ext.toString(),
            "-out",
            cert.toString()));
    return new Path[] {cert, key};
  }

  private static String ecParams(Path pki) throws Exception {
    Path params = pki.resolve("p256.pem");
    PluginProcess.run(
        List.of("openssl", "ecparam", "-name", "prime256v1", "-out", params.toString()));
    return params.toString();
  }
}
