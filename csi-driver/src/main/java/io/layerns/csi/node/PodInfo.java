package io.layerns.csi.node;

import java.util.Map;

/**
 * The pod a volume is published for, from the kubelet's {@code csi.storage.k8s.io/pod.*} volume
 * context keys (sent when the CSIDriver has {@code podInfoOnMount: true}); empty when absent.
 */
public record PodInfo(String name, String namespace, String uid, String serviceAccount) {

  public static final String NAME = "csi.storage.k8s.io/pod.name";
  public static final String NAMESPACE = "csi.storage.k8s.io/pod.namespace";
  public static final String UID = "csi.storage.k8s.io/pod.uid";
  public static final String SERVICE_ACCOUNT = "csi.storage.k8s.io/serviceAccount.name";

  /** Reads the pod keys of a NodePublishVolume volume context. */
  public static PodInfo fromVolumeContext(Map<String, String> context) {
    return new PodInfo(
        context.getOrDefault(NAME, ""),
        context.getOrDefault(NAMESPACE, ""),
        context.getOrDefault(UID, ""),
        context.getOrDefault(SERVICE_ACCOUNT, ""));
  }

  /** {@code namespace/name}, as the LayerStore status names the pod; null when unknown. */
  public String label() {
    return name.isEmpty() || namespace.isEmpty() ? null : namespace + "/" + name;
  }
}
