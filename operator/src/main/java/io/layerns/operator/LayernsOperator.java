package io.layerns.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.layerns.api.events.EventRecorder;
import io.layerns.operator.reconciler.LayerNamespaceReconciler;
import io.layerns.operator.reconciler.LayerReconciler;
import io.layerns.operator.wakeup.TrimmedItemStore;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The layerns operator: the two reconcilers on one java-operator-sdk runtime, leader-elected
 * through a Lease, with health probes and Prometheus metrics. Runs in its Deployment, in tests and
 * in the demo alike.
 */
public final class LayernsOperator implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LayernsOperator.class);
  public static final String LEASE_NAME = "layerns-operator";

  private final Operator operator;
  private final KubernetesClient client;
  private final OperatorConfig config;
  private final HealthServer health;

  public LayernsOperator(KubernetesClient client, OperatorConfig config, Clock clock)
      throws IOException {
    this.client = client;
    this.config = config;
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    // Made once, outside the overrider: java-operator-sdk may call that more than once, and a
    // second instance's gauges would not register, leaving the exported ones on an unused one.
    ReconcileActivity activity =
        new ReconcileActivity(MicrometerMetrics.withoutPerResourceMetrics(registry), registry);
    operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client).withMetrics(activity).withCloseClientOnStop(false);
              if (config.leaderElection()) {
                // In a pod, losing the lease ends the process so a clean replica takes over;
                // an operator embedded in a test or the demo only stops.
                o.withLeaderElectionConfiguration(
                    LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE_NAME)
                        .withLeaseNamespace(config.leaseNamespace())
                        .withIdentity(config.podName())
                        .withExitOnStopLeading(config.exitOnLostLease())
                        .build());
              }
            });
    EventRecorder events =
        new EventRecorder(client, clock, EventRecorder.OPERATOR, config.podName());
    operator.register(new LayerNamespaceReconciler(client, events, clock));
    // The Layer cache keeps statuses without managedFields and with shared strings (50,000
    // Layers at full size).
    operator.register(
        new LayerReconciler(events, clock, config.layerCleanupGrace()),
        o -> o.withItemStore(TrimmedItemStore.layers()));
    health =
        new HealthServer(
            config.httpPort(),
            () -> operator.getRuntimeInfo().allEventSourcesAreHealthy(),
            () -> operator.getRuntimeInfo().isStarted() ? null : "operator not started",
            registry);
  }

  public void start() {
    operator.start();
    LOG.info("layerns operator started; health and metrics on port {}", health.port());
  }

  public int httpPort() {
    return health.port();
  }

  @Override
  public void close() {
    operator.stop();
    health.close();
  }

  /** Entry point of the operator image. */
  public static void main(String[] args) throws IOException {
    OperatorConfig config = OperatorConfig.fromEnvironment(System.getenv());
    KubernetesClient client = new KubernetesClientBuilder().build();
    LayernsOperator op = new LayernsOperator(client, config, Clock.systemUTC());
    Runtime.getRuntime().addShutdownHook(new Thread(op::close, "operator-stop"));
    op.start();
  }
}
