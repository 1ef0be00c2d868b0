package io.layerns.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerSpec;
import io.layerns.api.v1alpha1.LayerStatus;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Why a new digest costs the operator two writes on a cold start, not one: with the status
 * subresource (the Kubernetes convention the Layer CRD follows, so that status has its own writer
 * and RBAC), the API server drops the status of a create, by POST and by server-side apply alike;
 * only a write to /status sets it. The operator already sends exactly one of each per new Layer.
 */
@WithControlPlane
class LayerStatusOnCreateIT {

  @Test
  void theApiServerDropsTheStatusOfACreate(ControlPlane cp) {
    KubernetesClient client = cp.client();
    Layer posted = client.resource(layer("1")).create();
    assertThat(posted.getStatus()).as("status after a create (POST)").isNull();

    Layer applied =
        client
            .resource(layer("2"))
            .fieldManager("status-on-create-it")
            .forceConflicts()
            .serverSideApply();
    assertThat(applied.getStatus()).as("status after a create by server-side apply").isNull();
    assertThat(
            client
                .resources(Layer.class)
                .withName(applied.getMetadata().getName())
                .get()
                .getStatus())
        .isNull();

    // The second write, to the status subresource, is what sets it.
    applied.setStatus(layer("2").getStatus());
    Layer written = client.resource(applied).updateStatus();
    assertThat(written.getStatus()).isNotNull();
    assertThat(written.getStatus().copies()).isEqualTo(1);
  }

  private static Layer layer(String seed) {
    String digest = "sha256:" + seed.repeat(64);
    Layer l = new Layer();
    l.setMetadata(new ObjectMetaBuilder().withName(CrdConstants.layerName(digest)).build());
    l.setSpec(new LayerSpec(digest, 10L, null, null, null));
    l.setStatus(
        new LayerStatus(1L, List.of("ns"), "10", null, 1, List.of(), "<none>", null, 0, null));
    return l;
  }
}
