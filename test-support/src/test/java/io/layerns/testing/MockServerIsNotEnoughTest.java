package io.layerns.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The smoke checks tell a real API server from fabric8's mock server: pointed at the mock server in
 * CRUD mode, three of the four fail, each for the missing feature it checks (not just any error).
 * Without this, the smoke test could pass against an imitation.
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
    // The check's own assertion fails: the mock server stored what a real one refuses.
    assertThatThrownBy(checks::schemaViolationIsRefusedByTheServer)
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("Expecting code to raise a throwable");
  }

  @Test
  void mockServerDoesNotMergeServerSideApply() {
    // A real server creates the object on the first apply; the mock server answers 404.
    assertThatThrownBy(checks::serverSideApplyMergesTwoManagers)
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(404))
        .hasMessageContaining("PATCH")
        .hasMessageContaining("fieldManager=manager-a");
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
    assertThatThrownBy(checks::dependentIsGarbageCollected)
        .isInstanceOf(ConditionTimeoutException.class)
        .hasMessageContaining("garbage collection of dependent-");
  }
}
