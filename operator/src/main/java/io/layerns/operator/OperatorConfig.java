package io.layerns.operator;

import java.time.Duration;
import java.util.Map;

/** The operator's settings, from environment variables set by its Deployment. */
public record OperatorConfig(
    String podName,
    String leaseNamespace,
    boolean leaderElection,
    boolean exitOnLostLease,
    int httpPort,
    Duration layerCleanupGrace) {

  public static OperatorConfig fromEnvironment(Map<String, String> env) {
    return new OperatorConfig(
        env.getOrDefault("POD_NAME", "layerns-operator-local"),
        env.getOrDefault("POD_NAMESPACE", "layerns-system"),
        Boolean.parseBoolean(env.getOrDefault("LEADER_ELECTION", "true")),
        true,
        Integer.parseInt(env.getOrDefault("HTTP_PORT", "8080")),
        Duration.ofSeconds(Long.parseLong(env.getOrDefault("LAYER_CLEANUP_GRACE_SECONDS", "600"))));
  }

  /**
   * An operator embedded in another process (tests, the demo): no leader election, no exit when a
   * lease is lost, a free health port, its Secret and events in "default", the usual 10-minute
   * cleanup grace.
   */
  public static OperatorConfig embedded(String name) {
    return new OperatorConfig(name, "default", false, false, 0, Duration.ofMinutes(10));
  }
}
