package io.layerns.csi.agent;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where member nodes' requests come from, as the cluster says: the InternalIP and ExternalIP
 * addresses in each {@code Node.status} (written by the kubelet or the cloud provider, never by a
 * node plugin), followed by a watch. What a member writes about itself in its LayerStore is never
 * an address the exports let in.
 */
public final class NodeAddresses implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(NodeAddresses.class);
  private static final Set<String> TYPES = Set.of("InternalIP", "ExternalIP");

  private final SharedIndexInformer<Node> informer;

  private NodeAddresses(SharedIndexInformer<Node> informer) {
    this.informer = informer;
  }

  /**
   * Watches every Node; {@code changed} runs when a node comes, goes or its addresses change.
   * Returns once the first list is in.
   */
  public static NodeAddresses watch(KubernetesClient client, Runnable changed) {
    SharedIndexInformer<Node> informer =
        client
            .nodes()
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Node obj) {
                    changed.run();
                  }

                  @Override
                  public void onUpdate(Node old, Node obj) {
                    if (!of(old).equals(of(obj))) {
                      changed.run();
                    }
                  }

                  @Override
                  public void onDelete(Node obj, boolean unknown) {
                    changed.run();
                  }
                });
    return new NodeAddresses(informer);
  }

  /** The addresses of node {@code name}; empty when it is unknown or lists none. */
  public Set<InetAddress> of(String name) {
    Node node = informer.getStore().getByKey(name);
    return node == null ? Set.of() : of(node);
  }

  /** The InternalIP and ExternalIP addresses a Node's status lists (IP literals only). */
  static Set<InetAddress> of(Node node) {
    Set<InetAddress> out = new LinkedHashSet<>();
    if (node.getStatus() == null || node.getStatus().getAddresses() == null) {
      return out;
    }
    for (NodeAddress a : node.getStatus().getAddresses()) {
      String ip = a.getAddress();
      if (!TYPES.contains(a.getType()) || ip == null) {
        continue;
      }
      // A name would need a lookup, and whoever controls DNS would choose the members.
      if (!ip.matches("[0-9.]+|[0-9A-Fa-f:.]+") || !ip.contains(".") && !ip.contains(":")) {
        LOG.warn("node {} lists an address that is no IP: {}", name(node), ip);
        continue;
      }
      try {
        out.add(InetAddress.getByName(ip));
      } catch (UnknownHostException e) {
        LOG.warn("node {} lists an unusable address {}: {}", name(node), ip, e.getMessage());
      }
    }
    return out;
  }

  private static String name(Node node) {
    return Objects.toString(node.getMetadata() == null ? null : node.getMetadata().getName());
  }

  @Override
  public void close() {
    informer.close();
  }
}
