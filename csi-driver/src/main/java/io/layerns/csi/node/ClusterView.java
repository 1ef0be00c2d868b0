package io.layerns.csi.node;

import java.io.IOException;

/**
 * What a volume's assembly needs to know of the cluster: the node's namespace. Pull credentials
 * come with the volume (its {@code nodePublishSecretRef}, read by the kubelet), not from here.
 */
public interface ClusterView {

  /**
   * This node's namespace: its transport and the member nodes with their exports and the layers
   * they hold; {@link NamespaceView#NONE} when the node is no member (yet).
   */
  NamespaceView namespace() throws IOException;
}
