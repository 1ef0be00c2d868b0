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
 * the nodes share the cluster's SSH key pair. Closing unmounts everything under the folder first.
 */
public final class PublishCluster implements AutoCloseable {
  private final Path dir;
  private final LayernsOperator operator;
  private final List<PublishNode> nodes;

  private PublishCluster(Path dir, LayernsOperator operator, List<PublishNode> nodes) {
    this.dir = dir;
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
    PublishCluster cluster = new PublishCluster(dir, operator, nodes);
    try {
      operator.start();
      for (int i = 1; i <= count; i++) {
        String name = prefix + "-" + i;
        TestNodes.addReadyNode(cp.client(), name, labels, "127.0.1." + i);
        nodes.add(PublishNode.start(cp, name, "127.0.1." + i, dir.resolve(name)));
      }
      return cluster;
    } catch (Exception | Error e) {
      cluster.close();
      throw e;
    }
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
