package io.layerns.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.layerns.api.v1alpha1.Layer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReconcileActivityTest {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final ReconcileActivity activity = new ReconcileActivity(Metrics.NOOP, registry);

  private double gauge(String name) {
    return registry.get(name).gauge().value();
  }

  private static Layer layer(String name) {
    Layer l = new Layer();
    l.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).build());
    return l;
  }

  @Test
  void countsRunningReconciliations() {
    activity.reconciliationExecutionStarted(layer("a"), Map.of());
    activity.reconciliationExecutionStarted(layer("b"), Map.of());
    activity.reconciliationExecutionFinished(layer("a"), Map.of());
    assertThat(gauge(ReconcileActivity.RUNNING)).isEqualTo(1);
  }

  @Test
  void aFailedResourceCountsUntilItsReconciliationSucceedsOrItIsDeleted() {
    activity.failedReconciliation(layer("a"), new IllegalStateException("conflict"), Map.of());
    activity.failedReconciliation(layer("a"), new IllegalStateException("conflict"), Map.of());
    activity.failedReconciliation(layer("b"), new IllegalStateException("conflict"), Map.of());
    assertThat(gauge(ReconcileActivity.FAILING)).isEqualTo(2);
    activity.finishedReconciliation(layer("a"), Map.of());
    assertThat(gauge(ReconcileActivity.FAILING)).isEqualTo(1);
    activity.cleanupDoneFor(ResourceID.fromResource(layer("b")), Map.of());
    assertThat(gauge(ReconcileActivity.FAILING)).isZero();
  }
}
