package io.layerns.testing;

import static org.assertj.core.api.Assertions.assertThatCode;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The control plane the tests use is a real one: each check of {@link ServerRealityChecks} holds
 * here (and three of them fail against fabric8's mock server, see MockServerIsNotEnoughTest).
 */
@WithControlPlane
class ControlPlaneSmokeIT {
  private ServerRealityChecks checks;

  @BeforeEach
  void setUp(KubernetesClient client) {
    checks = new ServerRealityChecks(client, Duration.ofSeconds(60));
  }

  @Test
  void refusesAnObjectThatBreaksTheCrdSchema() {
    assertThatCode(checks::schemaViolationIsRefusedByTheServer).doesNotThrowAnyException();
  }

  @Test
  void mergesServerSideApplyFromTwoFieldManagers() {
    assertThatCode(checks::serverSideApplyMergesTwoManagers).doesNotThrowAnyException();
  }

  @Test
  void keepsSpecWhenStatusIsUpdated() {
    assertThatCode(checks::statusUpdateDoesNotChangeSpec).doesNotThrowAnyException();
  }

  @Test
  void garbageCollectsAnObjectWhoseOwnerIsDeleted() {
    assertThatCode(checks::dependentIsGarbageCollected).doesNotThrowAnyException();
  }
}
