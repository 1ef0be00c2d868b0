package io.layerns.csi.node;

import io.layerns.csi.registry.DockerConfig;
import java.io.IOException;
import java.util.List;

/** What a volume's assembly needs to know of the cluster: the node's namespace and pull secrets. */
public interface ClusterView {

  /**
   * This node's namespace: its transport and the member nodes with their exports and the layers
   * they hold; {@link NamespaceView#NONE} when the node is no member (yet).
   */
  NamespaceView namespace() throws IOException;

  /**
   * The registry credentials of the pod's {@code imagePullSecrets}, in the pod's order; empty when
   * the pod names none, or is unknown (no pod info on the volume).
   *
   * @throws IOException when the pod or a secret cannot be read
   */
  List<DockerConfig> pullSecrets(PodInfo pod) throws IOException;
}
