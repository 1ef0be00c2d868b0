package io.layerns.testing;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
 * (for garbage collection and service accounts), built from their Go modules by {@code make
 * controlplane}. Each instance has its own ports and temporary folder.
 */
public final class ControlPlane implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ControlPlane.class);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);

  /** Controllers the tests rely on; node lifecycle is left out so simulated nodes stay Ready. */
  private static final String CONTROLLERS =
      "garbagecollector,namespace,serviceaccount,serviceaccount-token,clusterrole-aggregation";

  private final Path binDir;
  private final Path workDir;
  private final String adminToken = UUID.randomUUID().toString();
  private final List<ManagedProcess> processes = new ArrayList<>();
  private ManagedProcess etcd;
  private ManagedProcess apiServer;
  private ManagedProcess controllerManager;
  private int etcdPort;
  private int apiServerPort;
  private Path kubeconfig;
  private KubernetesClient client;

  private ControlPlane(Path binDir, Path workDir) {
    this.binDir = binDir;
    this.workDir = workDir;
  }

  /** Starts a control plane with the binaries in {@code binDir}, working in a new temp folder. */
  public static ControlPlane start(Path binDir) {
    for (String tool : List.of("etcd", "kube-apiserver", "kube-controller-manager")) {
      if (!Files.isExecutable(binDir.resolve(tool))) {
        throw new IllegalStateException(
            tool + " not found in " + binDir + ": run `make controlplane` first");
      }
    }
    try {
      ControlPlane cp = new ControlPlane(binDir, Files.createTempDirectory("layerns-controlplane"));
      Runtime.getRuntime().addShutdownHook(new Thread(cp::close, "controlplane-stop"));
      cp.startAll();
      return cp;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The binaries folder from the {@code layerns.cache} system property (set by the build). */
  public static Path defaultBinDir() {
    String cache = System.getProperty("layerns.cache", System.getenv("LAYERNS_CACHE"));
    if (cache == null) {
      cache = Path.of(System.getProperty("layerns.repo", "."), ".cache").toString();
    }
    return Path.of(cache, "bin");
  }

  private void startAll() throws IOException {
    long begin = System.nanoTime();
    writeCredentials();
    startEtcd();
    startApiServer();
    kubeconfig = writeKubeconfig();
    client = newClient();
    awaitReady();
    startControllerManager();
    LOG.info(
        "control plane ready in {} ms: apiserver https://127.0.0.1:{}, kubeconfig {}",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin),
        apiServerPort,
        kubeconfig);
  }

  private void writeCredentials() throws IOException {
    // system:masters bypasses authorization: the tests' client is cluster-admin.
    Files.writeString(
        workDir.resolve("tokens.csv"),
        adminToken + ",layerns-test-admin,layerns-test-admin,\"system:masters\"\n");
    try {
      var generator = KeyPairGenerator.getInstance("RSA");
      generator.initialize(2048);
      var pair = generator.generateKeyPair();
      Files.writeString(
          workDir.resolve("sa.key"), pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
      Files.writeString(
          workDir.resolve("sa.pub"), pem("PUBLIC KEY", pair.getPublic().getEncoded()));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String pem(String type, byte[] der) {
    String body =
        Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
    return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
  }

  private void startEtcd() throws IOException {
    etcdPort = freePort();
    int peerPort = freePort();
    String client = "http://127.0.0.1:" + etcdPort;
    String peer = "http://127.0.0.1:" + peerPort;
    etcd =
        launch(
            "etcd",
            List.of(
                binDir.resolve("etcd").toString(),
                "--name=layerns-test",
                "--data-dir=" + workDir.resolve("etcd-data"),
                "--listen-client-urls=" + client,
                "--advertise-client-urls=" + client,
                "--listen-peer-urls=" + peer,
                "--initial-advertise-peer-urls=" + peer,
                "--initial-cluster=layerns-test=" + peer,
                // Throwaway data: skipping fsync makes the tests several times faster.
                "--unsafe-no-fsync=true",
                "--log-level=warn"));
  }

  private void startApiServer() throws IOException {
    apiServerPort = freePort();
    apiServer = launch("kube-apiserver", apiServerArgs());
  }

  private List<String> apiServerArgs() {
    return List.of(
        binDir.resolve("kube-apiserver").toString(),
        "--etcd-servers=http://127.0.0.1:" + etcdPort,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=" + apiServerPort,
        "--cert-dir=" + workDir.resolve("apiserver-certs"),
        "--token-auth-file=" + workDir.resolve("tokens.csv"),
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=" + workDir.resolve("sa.pub"),
        "--service-account-signing-key-file=" + workDir.resolve("sa.key"),
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--v=1");
  }

  private void startControllerManager() throws IOException {
    controllerManager =
        launch(
            "kube-controller-manager",
            List.of(
                binDir.resolve("kube-controller-manager").toString(),
                "--kubeconfig=" + kubeconfig,
                "--authentication-kubeconfig=" + kubeconfig,
                "--authorization-kubeconfig=" + kubeconfig,
                "--bind-address=127.0.0.1",
                "--secure-port=" + freePort(),
                "--cert-dir=" + workDir.resolve("kcm-certs"),
                "--controllers=" + CONTROLLERS,
                "--service-account-private-key-file=" + workDir.resolve("sa.key"),
                "--root-ca-file=" + workDir.resolve("apiserver-certs").resolve("apiserver.crt"),
                "--leader-elect=false",
                "--concurrent-gc-syncs=5",
                "--v=1"));
  }

  private ManagedProcess launch(String name, List<String> command) throws IOException {
    ManagedProcess p = ManagedProcess.start(name, command, workDir.resolve(name + ".log"));
    processes.add(p);
    return p;
  }

  private Path writeKubeconfig() throws IOException {
    Path file = workDir.resolve("kubeconfig");
    Files.writeString(
        file,
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: layerns-test
          cluster:
            server: %s
            insecure-skip-tls-verify: true
        users:
        - name: admin
          user:
            token: %s
        contexts:
        - name: layerns-test
          context: {cluster: layerns-test, user: admin}
        current-context: layerns-test
        """
            .formatted(url(), adminToken));
    return file;
  }

  private KubernetesClient newClient() {
    Config config =
        new io.fabric8.kubernetes.client.ConfigBuilder(Config.empty())
            .withMasterUrl(url())
            .withOauthToken(adminToken)
            .withTrustCerts(true)
            .withDisableHostnameVerification(true)
            .withRequestTimeout(30_000)
            .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  private void awaitReady() {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      for (ManagedProcess p : List.of(etcd, apiServer)) {
        if (!p.isAlive()) {
          throw new IllegalStateException(p.name() + " exited during start-up:\n" + p.logTail(30));
        }
      }
      try {
        last = client.raw(url() + "/readyz");
        if ("ok".equals(last)) {
          return;
        }
      } catch (RuntimeException e) {
        last = e.getMessage();
      }
      pause();
    }
    throw new IllegalStateException(
        "kube-apiserver not ready after "
            + READY_TIMEOUT
            + ": "
            + last
            + "\n"
            + apiServer.logTail(30));
  }

  private static void pause() {
    try {
      Thread.sleep(200); // polling a process that gives no other signal of readiness
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Applies every CRD in {@code crdDir} and waits until the server serves them. */
  public void applyCrds(Path crdDir) {
    List<Path> files;
    try (Stream<Path> s = Files.list(crdDir)) {
      files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (Path f : files) {
      try (InputStream in = Files.newInputStream(f)) {
        CustomResourceDefinition crd =
            client.apiextensions().v1().customResourceDefinitions().load(in).item();
        client
            .apiextensions()
            .v1()
            .customResourceDefinitions()
            .resource(crd)
            .forceConflicts()
            .serverSideApply();
        client
            .apiextensions()
            .v1()
            .customResourceDefinitions()
            .withName(crd.getMetadata().getName())
            .waitUntilCondition(ControlPlane::established, 60, TimeUnit.SECONDS);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    LOG.info("applied {} CRDs from {}", files.size(), crdDir);
  }

  private static boolean established(CustomResourceDefinition crd) {
    return crd != null
        && crd.getStatus() != null
        && crd.getStatus().getConditions() != null
        && crd.getStatus().getConditions().stream()
            .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  /** Stops and starts kube-apiserver on the same port and storage, as a server restart would. */
  public void restartApiServer() throws IOException {
    apiServer.close();
    processes.remove(apiServer);
    apiServer = launch("kube-apiserver", apiServerArgs());
    awaitReady();
  }

  public KubernetesClient client() {
    return client;
  }

  /** A new client with the same admin credentials, for code under test that owns its client. */
  public KubernetesClient newAdminClient() {
    return newClient();
  }

  public String url() {
    return "https://127.0.0.1:" + apiServerPort;
  }

  /** The kubectl built with the control plane, for tests that check what an admin sees. */
  public Path kubectl() {
    return binDir.resolve("kubectl");
  }

  public Path kubeconfig() {
    return kubeconfig;
  }

  public Path workDir() {
    return workDir;
  }

  /** Every process this control plane started, for tests that check none is left behind. */
  public List<ManagedProcess> processes() {
    return List.copyOf(processes);
  }

  @Override
  public synchronized void close() {
    if (client != null) {
      client.close();
      client = null;
    }
    // Stop in reverse order: the controller manager and apiserver before their storage.
    for (int i = processes.size() - 1; i >= 0; i--) {
      processes.get(i).close();
    }
    processes.clear();
    deleteRecursively(workDir);
  }

  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      LOG.warn("could not delete {}: {}", dir, e.getMessage());
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }
}
