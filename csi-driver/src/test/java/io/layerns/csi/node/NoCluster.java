package io.layerns.csi.node;

import io.layerns.csi.registry.DockerConfig;
import java.util.List;

/** A node in no namespace, for tests whose images come from its own store or a registry alone. */
public final class NoCluster implements ClusterView {
  @Override
  public NamespaceView namespace() {
    return NamespaceView.NONE;
  }

  @Override
  public List<DockerConfig> pullSecrets(PodInfo pod) {
    return List.of();
  }
}
