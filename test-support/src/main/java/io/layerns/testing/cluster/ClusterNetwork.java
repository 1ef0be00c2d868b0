package io.layerns.testing.cluster;

import io.layerns.testing.ManagedProcess;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The test cluster's network, which exists only in network namespaces the run creates: the control
 * plane's namespace holds a bridge on {@value #GATEWAY}/24 (etcd, kube-apiserver, the registries
 * listen there), each node's namespace a veth on that bridge with the node's address, a default
 * route through the bridge and its own pod range (10.244.N.0/24, routed by the control plane's
 * namespace as a host-gw network would). This JVM, in the machine's own namespace, reaches the API
 * server and the registry only through loopback forwarders ({@code socat} that enters the namespace
 * for each connection), so nothing on the machine's own network talks to an address that is not
 * loopback.
 */
public final class ClusterNetwork {
  /** The control plane's address on the cluster network. */
  public static final String GATEWAY = "10.77.0.1";

  public static final int API_SERVER_PORT = 6443;
  public static final int REGISTRY_PORT = 5000;

  /** The port of the registry that asks for a password (when the cluster has one). */
  public static final int PRIVATE_REGISTRY_PORT = 5001;

  public static final String SERVICE_RANGE = "10.96.0.0/16";

  private ClusterNetwork() {}

  static String nodeIp(int index) {
    return "10.77.0." + (10 + index);
  }

  /** The API server as pods and nodes reach it. */
  public static String apiServerUrl() {
    return "https://" + GATEWAY + ":" + API_SERVER_PORT;
  }

  /** The registry as nodes name it in image references. */
  public static String registryHost() {
    return GATEWAY + ":" + REGISTRY_PORT;
  }

  /** The registry that asks for a password, as nodes name it in image references. */
  public static String privateRegistryHost() {
    return GATEWAY + ":" + PRIVATE_REGISTRY_PORT;
  }

  /** Waits until {@code holder} (an {@code unshare ... sleep}) has left this JVM's namespaces. */
  static void awaitUnshared(ManagedProcess holder) {
    Path exe = Path.of("/proc", Long.toString(holder.pid()), "exe");
    ClusterNode.awaitTrue(
        holder.name() + " is in namespaces of its own",
        Duration.ofSeconds(10),
        () -> {
          try {
            return Files.readSymbolicLink(exe).getFileName().toString().equals("sleep");
          } catch (IOException e) {
            if (!holder.isAlive()) {
              throw new IllegalStateException(holder.name() + " exited: " + holder.logTail(10));
            }
            return false;
          }
        });
  }

  /** Makes the bridge in the control plane's namespace. */
  static void createBridge(long controlPlanePid) {
    HostCommands.bash(
        """
        nsenter --target "$1" --net bash -euc '
          ip link set lo up
          ip link add br0 type bridge
          ip addr add "$0/24" dev br0
          ip link set br0 up
          sysctl -qw net.ipv4.ip_forward=1'  "$2"
        """,
        Long.toString(controlPlanePid),
        GATEWAY);
  }

  /** Links {@code node} to the bridge and routes its pod range. */
  static void attach(long controlPlanePid, ClusterNode node, int index) {
    HostCommands.bash(
        """
        cp="$1"; node="$2"; veth="$3"; ip="$4"; gw="$5"; pods="$6"
        nsenter --target "$cp" --net ip link add "$veth" type veth peer name eth0 netns "$node"
        nsenter --target "$cp" --net bash -euc 'ip link set "$0" master br0 && ip link set "$0" up' "$veth"
        nsenter --target "$node" --net bash -euc '
          ip link set lo up
          ip addr add "$0/24" dev eth0
          ip link set eth0 up
          ip route add default via "$1"
          sysctl -qw net.ipv4.ip_forward=1' "$ip" "$gw"
        nsenter --target "$cp" --net ip route add "$pods" via "$ip"
        """,
        Long.toString(controlPlanePid),
        Long.toString(node.namespacePid()),
        "vn" + index,
        node.ip(),
        GATEWAY,
        node.podCidr());
  }

  /**
   * Forwards a free port on 127.0.0.1 here to {@code port} on the loopback of the namespace of
   * {@code pid}; returns the local port and the forwarder.
   */
  static Forwarder forward(String name, long pid, int port, ProcessJail jail, Path logDir)
      throws IOException {
    int local;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      local = s.getLocalPort();
    }
    ManagedProcess p =
        ManagedProcess.start(
            name,
            jail.wrap(
                List.of(
                    "socat",
                    "TCP-LISTEN:" + local + ",bind=127.0.0.1,reuseaddr,fork",
                    "EXEC:nsenter --target "
                        + pid
                        + " --net socat STDIO TCP\\:127.0.0.1\\:"
                        + port)),
            logDir.resolve(name + ".log"));
    return new Forwarder(local, p);
  }

  /** A loopback port of this JVM's namespace that leads into the cluster network. */
  public record Forwarder(int localPort, ManagedProcess process) {}
}
