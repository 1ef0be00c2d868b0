package io.layerns.testing;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The smoke checks tell a real API server from fabric8's mock server: pointed at the mock server in
 * CRUD mode, three of the four fail. Without this, the smoke test could pass against an imitation.
 */
@EnableKubernetesMockClient(crud = true)
class MockServerIsNotEnoughTest {
  KubernetesClient client;
  private ServerRealityChecks checks;

  @BeforeEach
  void setUp() {
    checks = new ServerRealityChecks(client, Duration.ofSeconds(3));
  }

  @Test
  void mockServerDoesNotValidateTheSchema() {
    assertThatThrownBy(checks::schemaViolationIsRefusedByTheServer)
        .isInstanceOf(AssertionError.class);
  }

  @Test
  void mockServerDoesNotMergeServerSideApply() {
    assertThatThrownBy(checks::serverSideApplyMergesTwoManagers).isInstanceOf(Throwable.class);
  }

  /**
   * The mock server's CRUD mode does imitate the status subresource, so this one check alone does
   * not tell the servers apart; the three others do.
   */
  @Test
  void mockServerImitatesTheStatusSubresource() {
    assertThatCode(checks::statusUpdateDoesNotChangeSpec).doesNotThrowAnyException();
  }

  @Test
  void mockServerDoesNotCollectGarbage() {
    assertThatThrownBy(checks::dependentIsGarbageCollected).isInstanceOf(Throwable.class);
  }
}
