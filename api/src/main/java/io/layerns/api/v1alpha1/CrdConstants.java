package io.layerns.api.v1alpha1;

/** Names shared by the operator, the node plugin and the manifests. */
public final class CrdConstants {
  public static final String GROUP = "layerns.io";
  public static final String VERSION = "v1alpha1";
  public static final String API_VERSION = GROUP + "/" + VERSION;
  public static final String CATEGORY = "layerns";

  /** CSI driver name, as in the CSIDriver object and the pod's volume. */
  public static final String DRIVER_NAME = "csi.layerns.io";

  /** Label on every LayerStore naming the LayerNamespace it belongs to. */
  public static final String LABEL_NAMESPACE = GROUP + "/namespace";

  /** Label on every LayerStore naming its node. */
  public static final String LABEL_NODE = GROUP + "/node";

  /** Field manager of the operator's writes. */
  public static final String OPERATOR_MANAGER = "layerns-operator";

  /** Field manager of a node agent's writes. */
  public static final String AGENT_MANAGER = "layerns-node-agent";

  /** Layer names are the digest with ':' replaced, since ':' is not allowed in names. */
  public static final String DIGEST_PATTERN = "^sha256:[a-f0-9]{64}$";

  private CrdConstants() {}

  /** The name of the {@link Layer} for a digest: {@code sha256:abc} becomes {@code sha256-abc}. */
  public static String layerName(String digest) {
    return digest.replace(':', '-');
  }
}
