package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.StoreEndpoints;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which LayerStore changes make the export client lists be read again at once. */
class ExportMembershipWatchTest {

  private static final String KEY_A =
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA";
  private static final String KEY_B =
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB";

  private static LayerStore store(String namespace, String http, int heldLayers) {
    return store(namespace, http, KEY_A, heldLayers);
  }

  private static LayerStore store(String namespace, String http, String key, int heldLayers) {
    LayerStore s = new LayerStore();
    s.setMetadata(new ObjectMetaBuilder().withName("n1").build());
    s.setSpec(new LayerStoreSpec("n1", namespace, null, null, null, null, null));
    s.setStatus(
        http == null && heldLayers < 0
            ? null
            : new LayerStoreStatus(
                1L,
                http == null ? null : new StoreEndpoints(http, null, key, null),
                null,
                null,
                null,
                null,
                0,
                Math.max(heldLayers, 0),
                List.of(),
                List.of(),
                0,
                null));
    return s;
  }

  @Test
  void firstPublishedKeyOrANewNamespaceOrANewKeyChangesMembers() {
    assertThat(
            ExportMembership.mayChangeMembers(
                store("a", null, -1), store("a", "http://10.0.0.2:7443", 0)))
        .isTrue();
    assertThat(
            ExportMembership.mayChangeMembers(
                store(null, "http://10.0.0.2:7443", 0), store("a", "http://10.0.0.2:7443", 0)))
        .isTrue();
    assertThat(
            ExportMembership.mayChangeMembers(
                store("a", "http://10.0.0.2:7443", KEY_A, 0),
                store("a", "http://10.0.0.2:7443", KEY_B, 0)))
        .isTrue();
  }

  @Test
  void anAddressAMemberReportsChangesNothing() {
    // Addresses come from Node objects (NodeAddresses watches those), never from a member's status.
    assertThat(
            ExportMembership.mayChangeMembers(
                store("a", "http://10.0.0.2:7443", 0), store("a", "http://10.0.0.3:7443", 0)))
        .isFalse();
  }

  @Test
  void anEverydayStatusReportChangesNothing() {
    assertThat(
            ExportMembership.mayChangeMembers(
                store("a", "http://10.0.0.2:7443", 3), store("a", "http://10.0.0.2:7443", 4)))
        .isFalse();
  }
}
