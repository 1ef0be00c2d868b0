package io.layerns.csi.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.layerns.api.v1alpha1.LayerStore;

/**
 * Refreshes the export client lists as soon as a LayerStore changes in a way that can change who
 * the members are or where they are (see {@link ExportMembership#mayChangeMembers}), so that a node
 * that just joined is let in within moments rather than at the next poll.
 */
public final class MembershipWatch implements AutoCloseable {
  private final SharedIndexInformer<LayerStore> informer;

  private MembershipWatch(SharedIndexInformer<LayerStore> informer) {
    this.informer = informer;
  }

  /** Watches every LayerStore (a node's namespace may change, so not only its own namespace's). */
  public static MembershipWatch start(KubernetesClient client, ExportMembership membership) {
    return new MembershipWatch(
        client
            .resources(LayerStore.class)
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(LayerStore obj) {
                    membership.refreshSoon();
                  }

                  @Override
                  public void onUpdate(LayerStore old, LayerStore obj) {
                    if (ExportMembership.mayChangeMembers(old, obj)) {
                      membership.refreshSoon();
                    }
                  }

                  @Override
                  public void onDelete(LayerStore obj, boolean unknown) {
                    membership.refreshSoon();
                  }
                }));
  }

  @Override
  public void close() {
    informer.close();
  }
}
