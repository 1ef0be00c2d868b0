package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.testing.cluster.TestCluster;
import java.time.Duration;
import java.util.List;

/** What the real-cluster tests read about their pods and layers, as an admin reads it. */
public final class ClusterPods {
  private ClusterPods() {}

  /** The pod's phase, or null while it has none (or is gone). */
  static String phase(KubernetesClient client, String namespace, String pod) {
    Pod p = client.pods().inNamespace(namespace).withName(pod).get();
    return p == null || p.getStatus() == null ? null : p.getStatus().getPhase();
  }

  /**
   * The first {@code FailedMount} event line of {@code kubectl describe pod}, once there is one;
   * fails, with what the pod printed, if it starts instead.
   */
  static String awaitFailedMount(
      TestCluster cluster, String namespace, String pod, Duration timeout) {
    KubernetesClient client = cluster.client();
    String[] line = new String[1];
    await(pod + " shows a FailedMount event")
        .atMost(timeout)
        .until(
            () -> {
              assertThat(phase(client, namespace, pod))
                  .as(
                      () ->
                          "phase of "
                              + pod
                              + ", which printed: "
                              + cluster.kubectl("-n", namespace, "logs", pod))
                  .isNotIn("Running", "Succeeded", "Failed");
              String described = cluster.kubectl("-n", namespace, "describe", "pod", pod);
              line[0] =
                  described.lines().filter(l -> l.contains("FailedMount")).findFirst().orElse(null);
              return line[0] != null;
            });
    return line[0];
  }

  /** The nodes whose copy of layer {@code digest} is Present, as its Layer resource lists them. */
  public static List<String> presentHolders(KubernetesClient client, String digest) {
    Layer l = client.resources(Layer.class).withName(CrdConstants.layerName(digest)).get();
    if (l == null || l.getStatus() == null || l.getStatus().holders() == null) {
      return List.of();
    }
    return l.getStatus().holders().stream()
        .filter(h -> h.state() == CopyState.Present)
        .map(LayerHolder::node)
        .toList();
  }
}
