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

  /**
   * Where the control plane runs. The default is loopback in the test JVM's own network namespace;
   * the real test cluster runs it in a network namespace of its own, on a node-reachable address,
   * and reaches it from here through a loopback forwarder.
   *
   * @param launchPrefix put before every command (e.g. {@code nsenter --net=...}), or empty
   * @param bindAddress what kube-apiserver listens on
   * @param advertiseAddress the address kube-apiserver gives the {@code kubernetes} Service
   * @param apiServerPort the port kube-apiserver listens on, 0 for a free one
   * @param hostPort turns the apiserver's port into one this JVM reaches on 127.0.0.1
   * @param nodeNames nodes that get a {@code system:node:<name>} token (Node authorization)
   * @param controllers kube-controller-manager's {@code --controllers}
   * @param serviceRange {@code --service-cluster-ip-range}
   */
  public record Placement(
      List<String> launchPrefix,
      String bindAddress,
      String advertiseAddress,
      int apiServerPort,
      java.util.function.IntUnaryOperator hostPort,
      List<String> nodeNames,
      String controllers,
      String serviceRange) {
    /** Loopback in this JVM's network namespace, no nodes: what most tests use. */
    public static Placement loopback() {
      return new Placement(
          List.of(), "127.0.0.1", "127.0.0.1", 0, p -> p, List.of(), CONTROLLERS, "10.96.0.0/16");
    }
  }

  private final Path binDir;
  private final Path workDir;
  private final Placement placement;
  private final String adminToken = UUID.randomUUID().toString();
  private final java.util.Map<String, String> nodeTokens = new java.util.TreeMap<>();
  private final List<ManagedProcess> processes = new ArrayList<>();
  private ManagedProcess etcd;
  private ManagedProcess apiServer;
  private ManagedProcess controllerManager;
  private int etcdPort;
  private int apiServerPort;
  private Path kubeconfig;
  private KubernetesClient client;

  private ControlPlane(Path binDir, Path workDir, Placement placement) {
    this.binDir = binDir;
    this.workDir = workDir;
    this.placement = placement;
  }

  /** Starts a control plane with the binaries in {@code binDir}, working in a new temp folder. */
  public static ControlPlane start(Path binDir) {
    return start(binDir, Placement.loopback());
  }

  /** Starts a control plane placed as {@code placement} says. */
  public static ControlPlane start(Path binDir, Placement placement) {
    for (String tool : List.of("etcd", "kube-apiserver", "kube-controller-manager")) {
      if (!Files.isExecutable(binDir.resolve(tool))) {
        throw new IllegalStateException(
            tool + " not found in " + binDir + ": run `make controlplane` first");
      }
    }
    try {
      ControlPlane cp =
          new ControlPlane(binDir, Files.createTempDirectory("layerns-controlplane"), placement);
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
    kubeconfig = writeKubeconfig(url(), adminToken, "kubeconfig");
    client = newClient();
    awaitReady();
    startControllerManager();
    LOG.info(
        "control plane ready in {} ms: apiserver {}, kubeconfig {}",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin),
        url(),
        kubeconfig);
  }

  private void writeCredentials() throws IOException {
    // system:masters bypasses authorization: the tests' client is cluster-admin. Each node gets
    // a token of its own, so the Node authorizer limits a kubelet to its node's objects.
    StringBuilder tokens =
        new StringBuilder(
            adminToken + ",layerns-test-admin,layerns-test-admin,\"system:masters\"\n");
    for (String node : placement.nodeNames()) {
      String token = UUID.randomUUID().toString();
      nodeTokens.put(node, token);
      tokens.append(token + ",system:node:" + node + ",node-" + node + ",\"system:nodes\"\n");
    }
    Files.writeString(workDir.resolve("tokens.csv"), tokens.toString());
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
    apiServerPort = placement.apiServerPort() != 0 ? placement.apiServerPort() : freePort();
    apiServer = launch("kube-apiserver", apiServerArgs());
  }

  private List<String> apiServerArgs() {
    List<String> args = new ArrayList<>();
    if (!placement.nodeNames().isEmpty()) {
      // Real kubelets: each may touch only its own node's objects; logs and exec go to the
      // node's InternalIP (there is no DNS for node names).
      args.add("--authorization-mode=Node,RBAC");
      args.add("--enable-admission-plugins=NodeRestriction");
      args.add("--kubelet-preferred-address-types=InternalIP,Hostname");
    } else {
      args.add("--authorization-mode=RBAC");
    }
    return java.util.stream.Stream.concat(
            Stream.of(
                binDir.resolve("kube-apiserver").toString(),
                "--etcd-servers=http://127.0.0.1:" + etcdPort,
                "--bind-address=" + placement.bindAddress(),
                "--advertise-address=" + placement.advertiseAddress(),
                "--secure-port=" + apiServerPort,
                "--cert-dir=" + workDir.resolve("apiserver-certs"),
                "--token-auth-file=" + workDir.resolve("tokens.csv"),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file=" + workDir.resolve("sa.pub"),
                "--service-account-signing-key-file=" + workDir.resolve("sa.key"),
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=" + placement.serviceRange(),
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--v=1"),
            args.stream())
        .toList();
  }

  private void startControllerManager() throws IOException {
    Path internal = internalKubeconfig();
    controllerManager =
        launch(
            "kube-controller-manager",
            List.of(
                binDir.resolve("kube-controller-manager").toString(),
                "--kubeconfig=" + internal,
                "--authentication-kubeconfig=" + internal,
                "--authorization-kubeconfig=" + internal,
                "--bind-address=127.0.0.1",
                "--secure-port=" + freePort(),
                "--cert-dir=" + workDir.resolve("kcm-certs"),
                "--controllers=" + placement.controllers(),
                "--service-account-private-key-file=" + workDir.resolve("sa.key"),
                "--root-ca-file=" + workDir.resolve("apiserver-certs").resolve("apiserver.crt"),
                "--leader-elect=false",
                "--concurrent-gc-syncs=5",
                "--v=1"));
  }

  /**
   * Starts another control-plane process where this one runs (e.g. kube-scheduler); it stops with
   * the control plane, before the API server.
   */
  public ManagedProcess launchBeside(String name, List<String> command) throws IOException {
    return launch(name, command);
  }

  private ManagedProcess launch(String name, List<String> command) throws IOException {
    List<String> placed = new ArrayList<>(placement.launchPrefix());
    placed.addAll(command);
    ManagedProcess p = ManagedProcess.start(name, placed, workDir.resolve(name + ".log"));
    processes.add(p);
    return p;
  }

  /**
   * A kubeconfig for a process placed beside kube-apiserver (same network namespace), as
   * cluster-admin: the controller manager, the scheduler.
   */
  public Path internalKubeconfig() throws IOException {
    return writeKubeconfig("https://127.0.0.1:" + apiServerPort, adminToken, "kubeconfig-internal");
  }

  /** A kubeconfig for {@code server} with the admin's credentials (e.g. for kube-proxy). */
  public Path adminKubeconfig(String server, String fileName) throws IOException {
    return writeKubeconfig(server, adminToken, fileName);
  }

  /** A kubeconfig for node {@code node}'s kubelet: its own token, {@code system:node:<node>}. */
  public Path nodeKubeconfig(String node, String server) throws IOException {
    String token = nodeTokens.get(node);
    if (token == null) {
      throw new IllegalArgumentException("no token for node " + node + ": not in the placement");
    }
    return writeKubeconfig(server, token, "kubeconfig-" + node);
  }

  /** The port kube-apiserver listens on where it runs (not the forwarded one). */
  public int apiServerPort() {
    return apiServerPort;
  }

  private Path writeKubeconfig(String server, String token, String name) throws IOException {
    Path file = workDir.resolve(name);
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
            .formatted(server, token));
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
    return "https://127.0.0.1:" + placement.hostPort().applyAsInt(apiServerPort);
  }

  /** The kubectl built with the control plane, for tests that check what an admin sees. */
  public Path kubectl() {
    return binDir.resolve("kubectl");
  }

  public Path kubeconfig() {
    return kubeconfig;
  }

  /**
   * Runs {@link #kubectl()} against this control plane and returns what it printed (stdout and
   * stderr); fails, with that output, when kubectl exits non-zero.
   */
  public String runKubectl(String... args) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>();
    command.add(kubectl().toString());
    command.add("--kubeconfig=" + kubeconfig);
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out =
        new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("kubectl " + String.join(" ", args) + " failed:\n" + out);
    }
    return out;
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
