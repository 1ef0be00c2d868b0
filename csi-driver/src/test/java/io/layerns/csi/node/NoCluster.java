package io.layerns.csi.node;

/** A node in no namespace, for tests whose images come from its own store or a registry alone. */
public final class NoCluster implements ClusterView {
  @Override
  public NamespaceView namespace() {
    return NamespaceView.NONE;
  }
}
