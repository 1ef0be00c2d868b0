package io.layerns.testing.cluster;

import io.layerns.testing.ControlPlane;
import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node of the test cluster: a network namespace with the node's address, a mount namespace in
 * which the node has its own {@code /var/lib}, {@code /run} and {@code /var/log} (so its kubelet,
 * containerd and node plugin use the default paths, as on a real node, and a DaemonSet's hostPaths
 * mean this node's folders), and in them containerd 2.x, a kubelet v1.35 and kube-proxy.
 */
public final class ClusterNode {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);

  private final String name;
  private final int index;
  private final Path dir;
  private final Path binDir;
  private final ProcessJail jail;
  private ManagedProcess holder;
  private ManagedProcess containerd;
  private ManagedProcess kubelet;
  private ManagedProcess kubeProxy;

  ClusterNode(String name, int index, Path dir, Path binDir, ProcessJail jail) {
    this.name = name;
    this.index = index;
    this.dir = dir;
    this.binDir = binDir;
    this.jail = jail;
  }

  public String name() {
    return name;
  }

  /** The node's InternalIP, which exists only in its network namespace. */
  public String ip() {
    return ClusterNetwork.nodeIp(index);
  }

  /** The node's pod range, on its own CNI bridge. */
  public String podCidr() {
    return "10.244." + index + ".0/24";
  }

  /** The node's {@code /var/lib} as this JVM sees it (the node's layer store is below it). */
  public Path varLib() {
    return dir.resolve("var-lib");
  }

  /** The pid whose namespaces are the node's (network and mount). */
  public long namespacePid() {
    return holder.pid();
  }

  /** {@code command} run inside the node's network and mount namespaces. */
  public List<String> inNode(List<String> command) {
    List<String> c =
        new ArrayList<>(
            List.of("nsenter", "--target", Long.toString(holder.pid()), "--net", "--mount"));
    c.addAll(command);
    return c;
  }

  /** Runs {@code command} in the node and returns its output. */
  public String exec(String... command) {
    return HostCommands.run(inNode(List.of(command)));
  }

  void createNamespaces() throws IOException {
    // Every process of this node (and the kubelet's pods, below it) in one subtree: stopping the
    // node is killing the subtree.
    jail.createChild(name);
    for (String d : List.of("var-lib", "run", "var-log", "cni")) {
      Files.createDirectories(dir.resolve(d));
    }
    holder =
        launch(
            "ns",
            List.of(
                "unshare", "--net", "--mount", "--propagation", "private", "sleep", "infinity"));
    ClusterNetwork.awaitUnshared(holder);
    // The node's own /var/lib (shared, so a DaemonSet's Bidirectional mounts of /var/lib/kubelet
    // and /var/lib/layerns reach the kubelet and the containers), /run and /var/log.
    HostCommands.run(
        List.of(
            "nsenter",
            "--target",
            Long.toString(holder.pid()),
            "--mount",
            "bash",
            "-euc",
            """
            mount --bind "$0/var-lib" /var/lib && mount --make-rshared /var/lib
            mount --bind "$0/run" /run
            mount --bind "$0/var-log" /var/log
            mkdir -p /var/lib/kubelet /var/lib/layerns
            """,
            dir.toString()));
  }

  /**
   * containerd's registry host configuration ({@code config_path}) as the node sees it: below the
   * node's own {@code /var/lib}, because the machine's {@code /etc} is every node's (the
   * DaemonSet's hostPath of it is patched to this path in {@code hack/local-cluster}).
   */
  public static final String CONTAINERD_HOSTS_DIR = "/var/lib/containerd-certs.d";

  /** {@link #CONTAINERD_HOSTS_DIR} as this JVM sees it. */
  public Path containerdHostsDir() {
    return varLib().resolve("containerd-certs.d");
  }

  /**
   * Starts containerd; unless {@code hostsFromLayerns}, writes the registry's hosts.toml (plain
   * HTTP) as an admin would. With it, the node plugin writes it (its mirror first, then the
   * registry), and until then containerd cannot pull from the registry.
   */
  void startContainerd(String sandboxImage, String registryHost, boolean hostsFromLayerns)
      throws IOException {
    Path certs = containerdHostsDir().resolve(registryHost);
    Files.createDirectories(certs);
    if (!hostsFromLayerns) {
      // The cluster's registry serves plain HTTP, as in-cluster registries often do.
      Files.writeString(
          certs.resolve("hosts.toml"),
          "server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
              .formatted(registryHost, registryHost));
    }
    Files.writeString(
        dir.resolve("cni").resolve("10-layerns-test.conflist"),
        """
        {"cniVersion": "1.0.0", "name": "pods", "plugins": [
          {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
           "hairpinMode": true,
           "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]],
                    "routes": [{"dst": "0.0.0.0/0"}]}},
          {"type": "portmap", "capabilities": {"portMappings": true}}]}
        """
            .formatted(podCidr()));
    Path config = dir.resolve("containerd.toml");
    Files.writeString(
        config,
        """
        version = 3
        root = "/var/lib/containerd"
        state = "/run/containerd"
        [grpc]
          address = "/run/containerd/containerd.sock"
        [plugins."io.containerd.cri.v1.runtime"]
          # root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE): every sandbox would die.
          restrict_oom_score_adj = true
          [plugins."io.containerd.cri.v1.runtime".cni]
            bin_dirs = ["/usr/lib/cni"]
            conf_dir = "%s"
          [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
            runtime_type = "io.containerd.runc.v2"
            [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
              BinaryName = "/usr/sbin/runc"
              SystemdCgroup = false
        [plugins."io.containerd.cri.v1.images"]
          [plugins."io.containerd.cri.v1.images".pinned_images]
            sandbox = "%s"
          [plugins."io.containerd.cri.v1.images".registry]
            config_path = "%s"
        """
            .formatted(dir.resolve("cni"), sandboxImage, CONTAINERD_HOSTS_DIR));
    containerd =
        launch(
            "containerd",
            inNode(
                List.of(
                    binDir.resolve("containerd").toString(),
                    "--config",
                    config.toString(),
                    "--log-level",
                    "warn")));
    awaitTrue(
        "containerd of " + name + " answers",
        Duration.ofSeconds(60),
        () -> {
          if (!containerd.isAlive()) {
            throw new IllegalStateException("containerd exited:\n" + containerd.logTail(30));
          }
          try {
            ctr("version");
            return true;
          } catch (IllegalStateException e) {
            return false;
          }
        });
  }

  /** Runs {@code ctr} against this node's containerd, in the CRI's namespace. */
  public String ctr(String... args) {
    List<String> c =
        new ArrayList<>(
            List.of(
                binDir.resolve("ctr").toString(),
                "--address",
                "/run/containerd/containerd.sock",
                "--namespace",
                "k8s.io"));
    c.addAll(List.of(args));
    return HostCommands.run(inNode(c));
  }

  /** Imports a docker-archive into the node's containerd, as an admin without a registry would. */
  public void importImage(Path archive) {
    ctr("images", "import", archive.toAbsolutePath().toString());
  }

  void startKubelet(ControlPlane cp) throws IOException {
    Path config = dir.resolve("kubelet.yaml");
    Path resolv = dir.resolve("resolv.conf");
    // No DNS server exists in the test network; nothing may be asked of one outside it.
    Files.writeString(resolv, "nameserver 127.0.0.1\noptions ndots:1\n");
    Files.writeString(
        config,
        """
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        # This machine runs cgroup v1, which v1.35 refuses unless told.
        failCgroupV1: false
        cgroupDriver: cgroupfs
        # Below the test cluster's tree, so nothing a pod starts outlives the test.
        cgroupRoot: /%s/%s
        containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
        address: %s
        readOnlyPort: 0
        healthzBindAddress: 127.0.0.1
        authentication:
          anonymous: {enabled: true}
          webhook: {enabled: false}
        authorization: {mode: AlwaysAllow}
        resolvConf: %s
        failSwapOn: false
        serializeImagePulls: false
        # The nodes share one disk: the defaults would evict pods for the others' files.
        evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
        imageGCHighThresholdPercent: 100
        imageGCLowThresholdPercent: 99
        fileCheckFrequency: 5s
        nodeStatusUpdateFrequency: 5s
        """
            .formatted(jail.name(), name, ip(), resolv));
    kubelet =
        launch(
            "kubelet",
            inNode(
                List.of(
                    binDir.resolve("kubelet").toString(),
                    "--config=" + config,
                    "--kubeconfig=" + cp.nodeKubeconfig(name, ClusterNetwork.apiServerUrl()),
                    "--hostname-override=" + name,
                    "--node-ip=" + ip(),
                    "--v=1")));
  }

  void startKubeProxy(Path kubeconfig) throws IOException {
    kubeProxy =
        launch(
            "kube-proxy",
            inNode(
                List.of(
                    binDir.resolve("kube-proxy").toString(),
                    "--kubeconfig=" + kubeconfig,
                    "--hostname-override=" + name,
                    "--proxy-mode=iptables",
                    "--cluster-cidr=10.244.0.0/16",
                    // Leave the kernel's conntrack settings alone: they are not this node's.
                    "--conntrack-max-per-core=0",
                    "--conntrack-tcp-timeout-established=0",
                    "--conntrack-tcp-timeout-close-wait=0",
                    "--metrics-bind-address=127.0.0.1:10249",
                    "--healthz-bind-address=127.0.0.1:10256",
                    "--v=1")));
  }

  boolean kubeletAlive() {
    return kubelet != null && kubelet.isAlive();
  }

  private ManagedProcess launch(String what, List<String> command) throws IOException {
    return ManagedProcess.start(
        name + "-" + what, jail.wrapIn(name, command), dir.resolve(what + ".log"));
  }

  /**
   * Stops the whole node at once, as a power failure would: its kubelet, containerd, kube-proxy,
   * every container and FUSE daemon, and with the last of them its namespaces and mounts.
   */
  public void powerOff() {
    jail.kill(name);
  }

  /** Logs of this node's processes, for a failure message. */
  public String logTails(int lines) {
    StringBuilder b = new StringBuilder();
    for (ManagedProcess p : new ManagedProcess[] {containerd, kubelet, kubeProxy}) {
      if (p != null) {
        b.append("--- ").append(p.name()).append(p.isAlive() ? "" : " (exited)").append(":\n");
        b.append(p.logTail(lines)).append('\n');
      }
    }
    return b.toString();
  }

  static void awaitTrue(String what, Duration limit, java.util.function.BooleanSupplier check) {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!check.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("timed out after " + limit + " waiting until " + what);
      }
      try {
        Thread.sleep(100); // polling processes that give no other signal of readiness
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  @Override
  public String toString() {
    return name + " (" + ip() + ")";
  }

  Logger log() {
    return LOG;
  }
}
