package io.layerns.testing.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import io.layerns.testing.RegistryConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes cluster on this machine, for end-to-end tests: etcd, kube-apiserver,
 * kube-controller-manager (every controller) and kube-scheduler in one network namespace, N nodes
 * each in network and mount namespaces of their own with containerd 2.x (Debian's runc), a kubelet
 * v1.35 and kube-proxy (iptables), CNI bridge networking, and Debian's docker-registry beside the
 * control plane (and, as an option, a second one that asks for a password). Images come from
 * docker-archives imported with {@code ctr}; nothing is pulled from outside. See {@link
 * ClusterNetwork} for the addresses and {@link ProcessJail} for why nothing outlives it. Must run
 * as root in a private mount namespace (the system tests' JVM is).
 */
public final class TestCluster implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TestCluster.class);
  private static final List<String> NODE_BINARIES =
      List.of(
          "etcd",
          "kube-apiserver",
          "kube-controller-manager",
          "kube-scheduler",
          "kubectl",
          "kubelet",
          "kube-proxy",
          "containerd",
          "containerd-shim-runc-v2",
          "ctr");

  /**
   * What to start.
   *
   * @param privateRegistry when not null, a second registry ({@link
   *     ClusterNetwork#privateRegistryHost()}) that lets in only this user: what a private image
   *     lives in
   * @param containerdHostsFromLayerns whether the layerns node plugin, not the cluster, writes
   *     containerd's hosts.toml for the registries
   */
  public record Options(
      int nodes,
      String sandboxImage,
      List<Path> images,
      RegistryUser privateRegistry,
      boolean containerdHostsFromLayerns) {
    public Options {
      if (nodes < 1) {
        throw new IllegalArgumentException("a cluster needs at least one node, not " + nodes);
      }
      images = List.copyOf(images);
    }

    /** A cluster with only the anonymous registry. */
    public Options(int nodes, String sandboxImage, List<Path> images) {
      this(nodes, sandboxImage, images, null, false);
    }

    /** The same cluster plus a registry that lets in only {@code user}. */
    public Options withPrivateRegistry(RegistryUser user) {
      return new Options(nodes, sandboxImage, images, user, containerdHostsFromLayerns);
    }

    /**
     * The same cluster with no hosts.toml for the registry in containerd's {@link
     * ClusterNode#CONTAINERD_HOSTS_DIR}: the layerns node plugin writes it (registry mirror).
     */
    public Options withContainerdHostsFromLayerns() {
      return new Options(nodes, sandboxImage, images, privateRegistry, true);
    }
  }

  /** A user of the private registry. */
  public record RegistryUser(String name, String password) {}

  private final Path binDir;
  private final Path workDir;
  private final ProcessJail jail;
  private final List<ClusterNode> nodes = new ArrayList<>();
  private final List<ManagedProcess> others = new ArrayList<>();
  private ManagedProcess controlPlaneNamespace;
  private ClusterNetwork.Forwarder apiForwarder;
  private Registry registry;
  private Registry privateRegistry;
  private ControlPlane controlPlane;

  private TestCluster(Path binDir, Path workDir, ProcessJail jail) {
    this.binDir = binDir;
    this.workDir = workDir;
    this.jail = jail;
  }

  /** Starts a cluster and waits until every node is Ready. */
  public static TestCluster start(Path binDir, Options options) {
    for (String tool : NODE_BINARIES) {
      if (!Files.isExecutable(binDir.resolve(tool))) {
        throw new IllegalStateException(
            tool + " not found in " + binDir + ": run `make controlplane` first");
      }
    }
    for (String tool : List.of("/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/bin/socat")) {
      if (!Files.isExecutable(Path.of(tool))) {
        throw new IllegalStateException(tool + " is missing: run `make deps` first");
      }
    }
    String id = HexFormat.of().formatHex(randomBytes(4));
    TestCluster cluster = null;
    try {
      Path work = Files.createTempDirectory("layerns-cluster-");
      cluster = new TestCluster(binDir, work, ProcessJail.create(ProcessJail.treeName(id), work));
      Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "cluster-stop"));
      cluster.startAll(options);
      return cluster;
    } catch (IOException | RuntimeException e) {
      if (cluster != null) {
        LOG.error("cluster start failed; node logs:\n{}", cluster.logTails(40));
        cluster.close();
      }
      throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
    }
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    ThreadLocalRandom.current().nextBytes(b);
    return b;
  }

  private void startAll(Options options) throws IOException {
    long begin = System.nanoTime();
    Path logs = Files.createDirectories(workDir.resolve("logs"));
    step("network namespaces and the cluster bridge");
    controlPlaneNamespace =
        ManagedProcess.start(
            "control-plane-ns",
            jail.wrap(List.of("unshare", "--net", "sleep", "infinity")),
            logs.resolve("control-plane-ns.log"));
    ClusterNetwork.awaitUnshared(controlPlaneNamespace);
    long cpPid = controlPlaneNamespace.pid();
    ClusterNetwork.createBridge(cpPid);
    List<String> names = new ArrayList<>();
    for (int i = 1; i <= options.nodes(); i++) {
      ClusterNode node =
          new ClusterNode(
              "node-" + i, i, Files.createDirectories(workDir.resolve("node-" + i)), binDir, jail);
      node.createNamespaces();
      ClusterNetwork.attach(cpPid, node, i);
      nodes.add(node);
      names.add(node.name());
    }

    step("control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)");
    apiForwarder =
        ClusterNetwork.forward(
            "apiserver-forward", cpPid, ClusterNetwork.API_SERVER_PORT, jail, logs);
    int apiLocal = apiForwarder.localPort();
    List<String> inControlPlane =
        jail.wrap(List.of("nsenter", "--target", Long.toString(cpPid), "--net"));
    controlPlane =
        ControlPlane.start(
            binDir,
            new ControlPlane.Placement(
                inControlPlane,
                "0.0.0.0",
                ClusterNetwork.GATEWAY,
                ClusterNetwork.API_SERVER_PORT,
                p -> apiLocal,
                names,
                "*",
                ClusterNetwork.SERVICE_RANGE));
    jail.alsoDelete(controlPlane.workDir());
    Path internal = controlPlane.internalKubeconfig();
    controlPlane.launchBeside(
        "kube-scheduler",
        List.of(
            binDir.resolve("kube-scheduler").toString(),
            "--kubeconfig=" + internal,
            "--authentication-kubeconfig=" + internal,
            "--authorization-kubeconfig=" + internal,
            "--bind-address=127.0.0.1",
            "--secure-port=10259",
            "--leader-elect=false",
            "--v=1"));
    registry = startRegistry("registry", ClusterNetwork.REGISTRY_PORT, null, cpPid, logs);
    if (options.privateRegistry() != null) {
      privateRegistry =
          startRegistry(
              "private-registry",
              ClusterNetwork.PRIVATE_REGISTRY_PORT,
              options.privateRegistry(),
              cpPid,
              logs);
    }

    step(
        "containerd on "
            + nodes.size()
            + " nodes, importing "
            + options.images().size()
            + " images");
    Path proxyConfig =
        controlPlane.adminKubeconfig(ClusterNetwork.apiServerUrl(), "kubeconfig-proxy");
    for (ClusterNode node : nodes) {
      node.startContainerd(
          options.sandboxImage(),
          ClusterNetwork.registryHost(),
          options.containerdHostsFromLayerns());
      for (Path image : options.images()) {
        node.importImage(image);
      }
    }
    step("kubelets and kube-proxies");
    for (ClusterNode node : nodes) {
      node.startKubelet(controlPlane);
      node.startKubeProxy(proxyConfig);
    }
    awaitNodesReady(Duration.ofSeconds(120));
    LOG.info(
        "test cluster ready in {} ms: {} nodes {}, kubeconfig {}",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin),
        nodes.size(),
        nodes,
        controlPlane.kubeconfig());
  }

  /** A docker-registry in the control plane's namespace, and its forwarder for this JVM. */
  private record Registry(ManagedProcess process, ClusterNetwork.Forwarder forwarder) {}

  /** Starts a registry on {@code port}, anonymous when {@code user} is null. */
  private Registry startRegistry(String name, int port, RegistryUser user, long cpPid, Path logs)
      throws IOException {
    Path dir = Files.createDirectories(workDir.resolve(name));
    Files.createDirectories(dir.resolve("storage"));
    String auth =
        user == null
            ? ""
            : RegistryConfig.htpasswdAuth(
                RegistryConfig.writeHtpasswd(
                    dir.resolve("htpasswd"), user.name(), user.password()));
    Path config = RegistryConfig.write(dir, dir.resolve("storage"), "0.0.0.0:" + port, "", auth);
    ManagedProcess process =
        ManagedProcess.start(
            name,
            jail.wrap(
                List.of(
                    "nsenter",
                    "--target",
                    Long.toString(cpPid),
                    "--net",
                    RegistryConfig.BINARY.toString(),
                    "serve",
                    config.toString())),
            logs.resolve(name + ".log"));
    others.add(process);
    return new Registry(
        process, ClusterNetwork.forward(name + "-forward", cpPid, port, jail, logs));
  }

  private void awaitNodesReady(Duration limit) {
    KubernetesClient client = controlPlane.client();
    ClusterNode.awaitTrue(
        "every node is Ready",
        limit,
        () -> {
          for (ClusterNode node : nodes) {
            if (!node.kubeletAlive()) {
              throw new IllegalStateException(
                  "the kubelet of " + node.name() + " exited:\n" + node.logTails(40));
            }
          }
          List<Node> list = client.nodes().list().getItems();
          return list.size() == nodes.size() && list.stream().allMatch(TestCluster::ready);
        });
  }

  /** Whether {@code node}'s Ready condition is True. */
  public static boolean ready(Node node) {
    return node.getStatus() != null
        && node.getStatus().getConditions() != null
        && node.getStatus().getConditions().stream()
            .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  private static void step(String what) {
    LOG.info("test cluster: {}", what);
  }

  public ControlPlane controlPlane() {
    return controlPlane;
  }

  public KubernetesClient client() {
    return controlPlane.client();
  }

  public List<ClusterNode> nodes() {
    return List.copyOf(nodes);
  }

  public ClusterNode node(String name) {
    return nodes.stream()
        .filter(n -> n.name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no node " + name));
  }

  /** The registry as this JVM reaches it (for pushing test images): {@code 127.0.0.1:port}. */
  public String registryFromHost() {
    return "127.0.0.1:" + registry.forwarder().localPort();
  }

  /**
   * The anonymous registry's storage folder: what the registry's owner can write to directly, for
   * documents a push would refuse.
   */
  public Path registryStorage() {
    return workDir.resolve("registry").resolve("storage");
  }

  /**
   * Stops the anonymous registry for good: from now on every request to it is refused, as when a
   * registry is down or the cluster is cut off from it.
   */
  public void stopRegistry() {
    registry.process().close(); // returns once it is gone
  }

  /** The registry's log: one line per request, naming the address it came from. */
  public Path registryLog() {
    return registry.process().log();
  }

  /**
   * The registry that asks for a password as this JVM reaches it: {@code 127.0.0.1:port}.
   *
   * @throws IllegalStateException when the cluster was started without one
   */
  public String privateRegistryFromHost() {
    if (privateRegistry == null) {
      throw new IllegalStateException(
          "this cluster has no private registry: start it with Options.withPrivateRegistry");
    }
    return "127.0.0.1:" + privateRegistry.forwarder().localPort();
  }

  /** Runs the cluster's kubectl with the admin kubeconfig; returns its output or fails with it. */
  public String kubectl(String... args) {
    List<String> command = new ArrayList<>();
    command.add(controlPlane.kubectl().toString());
    command.add("--kubeconfig=" + controlPlane.kubeconfig());
    command.addAll(List.of(args));
    return HostCommands.run(command);
  }

  /** The name of the cluster's cgroup tree (in every v1 hierarchy). */
  public String cgroupTree() {
    return jail.name();
  }

  /** The processes still running in the cluster's cgroup tree. */
  public int processCount() {
    return jail.processCount();
  }

  /** The last lines of every node process's log. */
  public String logTails(int lines) {
    StringBuilder b = new StringBuilder();
    for (ClusterNode n : nodes) {
      b.append(n.logTails(lines));
    }
    return b.toString();
  }

  public Path workDir() {
    return workDir;
  }

  @Override
  public synchronized void close() {
    if (controlPlane != null) {
      controlPlane.close();
      controlPlane = null;
    }
    // Everything else (containers, shims, kubelets, namespaces, forwarders) goes with the tree.
    jail.close();
  }

  static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
