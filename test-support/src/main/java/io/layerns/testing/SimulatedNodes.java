package io.layerns.testing;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Instant;
import java.util.Map;

/** Node objects as a kubelet registers them: created, then a Ready condition in their status. */
public final class SimulatedNodes {
  private SimulatedNodes() {}

  public static Node addReady(KubernetesClient client, String name, Map<String, String> labels) {
    return addReady(client, name, labels, null);
  }

  /**
   * As {@link #addReady(KubernetesClient, String, Map)}, with {@code internalIp} as the node's
   * InternalIP in its status (where peers' exports look for a member's address); null for none.
   */
  public static Node addReady(
      KubernetesClient client, String name, Map<String, String> labels, String internalIp) {
    Node node =
        client
            .nodes()
            .resource(
                new NodeBuilder()
                    .withNewMetadata()
                    .withName(name)
                    .withLabels(labels)
                    .endMetadata()
                    .build())
            .create();
    NodeStatusBuilder status = new NodeStatusBuilder();
    if (internalIp != null) {
      status.addNewAddress().withType("InternalIP").withAddress(internalIp).endAddress();
    }
    node.setStatus(
        status
            .withConditions(
                new NodeConditionBuilder()
                    .withType("Ready")
                    .withStatus("True")
                    .withReason("KubeletReady")
                    .withLastTransitionTime(Instant.now().toString())
                    .build())
            .build());
    return client.nodes().resource(node).updateStatus();
  }
}
