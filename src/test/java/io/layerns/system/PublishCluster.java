package io.layerns.system;

import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The operator and {@code count} publishing nodes on 127.0.1.1 and up: each a Ready Node in the
 * pool, an agent with its HTTP and SFTP exports, and a CSI socket a test calls as the kubelet does;
 * each node has its own key pair and its Node lists its address. Closing unmounts everything under
 * the folder first.
 */
public final class PublishCluster implements AutoCloseable {
  private final ControlPlane cp;
  private final Path dir;
  private final String prefix;
  private final LayernsOperator operator;
  private final List<PublishNode> nodes;

  private PublishCluster(
      ControlPlane cp, Path dir, String prefix, LayernsOperator operator, List<PublishNode> nodes) {
    this.cp = cp;
    this.dir = dir;
    this.prefix = prefix;
    this.operator = operator;
    this.nodes = nodes;
  }

  /**
   * @param prefix the operator's name and the nodes' names ({@code <prefix>-1} and up)
   * @param labels the labels the nodes carry, which the test's namespace selects
   */
  public static PublishCluster start(
      ControlPlane cp, String prefix, Map<String, String> labels, int count, Path dir)
      throws Exception {
    LayernsOperator operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded(prefix + "-operator"), Clock.systemUTC());
    List<PublishNode> nodes = new ArrayList<>();
    PublishCluster cluster = new PublishCluster(cp, dir, prefix, operator, nodes);
    try {
      operator.start();
      for (int i = 1; i <= count; i++) {
        TestNodes.addReadyNode(cp.client(), prefix + "-" + i, labels, "127.0.1." + i);
        nodes.add(cluster.startNode(i));
      }
      return cluster;
    } catch (Exception | Error e) {
      cluster.close();
      throw e;
    }
  }

  private PublishNode startNode(int i) throws java.io.IOException {
    String name = prefix + "-" + i;
    // Its own node key stays in its folders, so a restarted node keeps its identity.
    return PublishNode.start(cp, name, "127.0.1." + i, dir.resolve(name));
  }

  /** What a test does while a node's plugin is down. */
  @FunctionalInterface
  public interface WhileDown {
    void run() throws Exception;
  }

  /**
   * Restarts node {@code i}'s plugin as a container restart does: stops its agent, exports and CSI
   * socket (its mounts stay), runs {@code whileDown}, and starts it again on the same folders.
   */
  public PublishNode restart(int i, WhileDown whileDown) throws Exception {
    nodes.get(i - 1).close();
    try {
      whileDown.run();
    } finally {
      nodes.set(i - 1, startNode(i));
    }
    return nodes.get(i - 1);
  }

  /** Node {@code i}, counted from 1 as its name and address are. */
  public PublishNode node(int i) {
    return nodes.get(i - 1);
  }

  public List<PublishNode> nodes() {
    return List.copyOf(nodes);
  }

  @Override
  public void close() throws Exception {
    KubeletMounts.unmountAllUnder(dir);
    for (PublishNode n : nodes) {
      n.close();
    }
    operator.close();
  }
}
