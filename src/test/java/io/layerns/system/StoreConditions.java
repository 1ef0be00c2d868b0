package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.status.Conditions;
import io.layerns.api.v1alpha1.LayerStore;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/** Waits on a condition of a node's {@code LayerStore}, as an admin reads it. */
final class StoreConditions {
  private StoreConditions() {}

  /**
   * Until {@code node}'s store reports {@code type} with {@code status}; returns that condition.
   */
  static Condition await(KubernetesClient client, String node, String type, String status) {
    AtomicReference<Condition> seen = new AtomicReference<>();
    org.awaitility.Awaitility.await(node + " reports " + type + "=" + status)
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () -> {
              LayerStore s = client.resources(LayerStore.class).withName(node).get();
              assertThat(s.getStatus()).isNotNull();
              Optional<Condition> c = Conditions.find(s.getStatus().conditions(), type);
              assertThat(c).isPresent();
              assertThat(c.get().getStatus()).isEqualTo(status);
              seen.set(c.get());
            });
    return seen.get();
  }
}
