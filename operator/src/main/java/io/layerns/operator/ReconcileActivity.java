package io.layerns.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.api.reconciler.RetryInfo;
import io.javaoperatorsdk.operator.processing.Controller;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the operator is doing right now, on top of java-operator-sdk's own metrics: reconciliations
 * running, and resources whose last reconciliation failed (waiting for a retry, or out of retries).
 * An admin alerts on the second; a test knows the operator has settled when both are zero and no
 * event arrives.
 */
final class ReconcileActivity implements Metrics {
  static final String RUNNING = "layerns_operator_reconciles_running";
  static final String FAILING = "layerns_operator_resources_failing";

  private final Metrics delegate;
  private final AtomicInteger running = new AtomicInteger();
  private final Set<String> failing = ConcurrentHashMap.newKeySet();

  ReconcileActivity(Metrics delegate, MeterRegistry registry) {
    this.delegate = delegate;
    Gauge.builder(RUNNING, running, AtomicInteger::get)
        .description("Reconciliations executing now")
        .strongReference(true)
        .register(registry);
    Gauge.builder(FAILING, failing, Set::size)
        .description("Resources whose last reconciliation failed, retried or not")
        .strongReference(true)
        .register(registry);
  }

  // A resource's identity across controllers: Layer and LayerNamespace share no names, but kinds
  // keep two controllers' failures apart anyway.
  private static String key(HasMetadata resource) {
    return resource.getKind() + "/" + ResourceID.fromResource(resource);
  }

  @Override
  public void reconciliationExecutionStarted(HasMetadata resource, Map<String, Object> metadata) {
    running.incrementAndGet();
    delegate.reconciliationExecutionStarted(resource, metadata);
  }

  @Override
  public void reconciliationExecutionFinished(HasMetadata resource, Map<String, Object> metadata) {
    running.decrementAndGet();
    delegate.reconciliationExecutionFinished(resource, metadata);
  }

  @Override
  public void failedReconciliation(
      HasMetadata resource, Exception exception, Map<String, Object> metadata) {
    failing.add(key(resource));
    delegate.failedReconciliation(resource, exception, metadata);
  }

  @Override
  public void finishedReconciliation(HasMetadata resource, Map<String, Object> metadata) {
    failing.remove(key(resource));
    delegate.finishedReconciliation(resource, metadata);
  }

  @Override
  public void cleanupDoneFor(ResourceID resourceID, Map<String, Object> metadata) {
    failing.removeIf(k -> k.endsWith("/" + resourceID));
    delegate.cleanupDoneFor(resourceID, metadata);
  }

  @Override
  public void controllerRegistered(Controller<? extends HasMetadata> controller) {
    delegate.controllerRegistered(controller);
  }

  @Override
  public void receivedEvent(Event event, Map<String, Object> metadata) {
    delegate.receivedEvent(event, metadata);
  }

  @Override
  public void reconcileCustomResource(
      HasMetadata resource, RetryInfo retryInfo, Map<String, Object> metadata) {
    delegate.reconcileCustomResource(resource, retryInfo, metadata);
  }

  @Override
  public <T> T timeControllerExecution(ControllerExecution<T> execution) throws Exception {
    return delegate.timeControllerExecution(execution);
  }

  @Override
  public <T extends Map<?, ?>> T monitorSizeOf(T map, String name) {
    return delegate.monitorSizeOf(map, name);
  }
}
