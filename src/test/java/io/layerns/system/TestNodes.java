package io.layerns.system;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import java.time.Instant;
import java.util.Map;

/** Node objects (with a Ready kubelet condition) and LayerNamespaces for the system tests. */
final class TestNodes {
  private TestNodes() {}

  static void addReadyNode(KubernetesClient client, String name, Map<String, String> labels) {
    var node =
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
    node.setStatus(
        new NodeStatusBuilder()
            .withConditions(
                new NodeConditionBuilder()
                    .withType("Ready")
                    .withStatus("True")
                    .withReason("KubeletReady")
                    .withLastTransitionTime(Instant.now().toString())
                    .build())
            .build());
    client.nodes().resource(node).updateStatus();
  }

  /** A namespace over the nodes labelled {@code pool}, dropping unowned copies at once. */
  static void addNamespace(
      KubernetesClient client,
      String name,
      Map<String, String> pool,
      int replicas,
      Transport transport) {
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(name).build());
    ns.setSpec(new LayerNamespaceSpec(pool, replicas, transport, 0, 300, null, null));
    client.resource(ns).forceConflicts().serverSideApply();
  }
}
