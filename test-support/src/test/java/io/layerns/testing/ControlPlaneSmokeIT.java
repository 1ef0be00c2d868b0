package io.layerns.testing;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The control plane the tests use is a real one. */
@WithControlPlane
class ControlPlaneSmokeIT {
  private ServerRealityChecks checks;

  @BeforeEach
  void setUp(KubernetesClient client) {
    checks = new ServerRealityChecks(client, Duration.ofSeconds(60));
  }

  @Test
  void refusesAnObjectThatBreaksTheCrdSchema() {
    checks.schemaViolationIsRefusedByTheServer();
  }

  @Test
  void mergesServerSideApplyFromTwoFieldManagers() {
    checks.serverSideApplyMergesTwoManagers();
  }

  @Test
  void keepsSpecWhenStatusIsUpdated() {
    checks.statusUpdateDoesNotChangeSpec();
  }

  @Test
  void garbageCollectsAnObjectWhoseOwnerIsDeleted() {
    checks.dependentIsGarbageCollected();
  }
}
