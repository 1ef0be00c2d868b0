package io.layerns.system;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import java.util.Map;

/** Node objects (with a Ready kubelet condition) and LayerNamespaces for the system tests. */
public final class TestNodes {
  private TestNodes() {}

  public static void addReadyNode(
      KubernetesClient client, String name, Map<String, String> labels) {
    io.layerns.testing.SimulatedNodes.addReady(client, name, labels);
  }

  /**
   * A Ready node whose status lists {@code internalIp}, the address its plugin serves and leaves
   * on.
   */
  public static void addReadyNode(
      KubernetesClient client, String name, Map<String, String> labels, String internalIp) {
    io.layerns.testing.SimulatedNodes.addReady(client, name, labels, internalIp);
  }

  /** A namespace over the nodes labelled {@code pool}, dropping unowned copies at once. */
  public static void addNamespace(
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
