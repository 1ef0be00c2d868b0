package io.layerns.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;

/**
 * Behaviours only a real API server has (schema validation, server-side apply, the status
 * subresource, garbage collection). The same checks run against the real control plane, where they
 * must pass, and against fabric8's mock server, where they must fail.
 */
final class ServerRealityChecks {
  static final ResourceDefinitionContext LAYER_NAMESPACES =
      new ResourceDefinitionContext.Builder()
          .withGroup("layerns.io")
          .withVersion("v1alpha1")
          .withKind("LayerNamespace")
          .withPlural("layernamespaces")
          .withNamespaced(false)
          .build();

  private final KubernetesClient client;
  private final Duration gcTimeout;

  ServerRealityChecks(KubernetesClient client, Duration gcTimeout) {
    this.client = client;
    this.gcTimeout = gcTimeout;
  }

  private static String unique(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  private static GenericKubernetesResource layerNamespace(String name, Object replicas) {
    return new GenericKubernetesResourceBuilder()
        .withApiVersion("layerns.io/v1alpha1")
        .withKind("LayerNamespace")
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withAdditionalProperties(Map.of("spec", Map.of("replicas", replicas)))
        .build();
  }

  /** An object that breaks the CRD schema is refused with the server's own message. */
  void schemaViolationIsRefusedByTheServer() {
    var bad = layerNamespace(unique("invalid"), 0);
    assertThatThrownBy(
            () -> client.genericKubernetesResources(LAYER_NAMESPACES).resource(bad).create())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(422))
        .hasMessageContaining("spec.replicas")
        .hasMessageContaining("should be greater than or equal to 1");
  }

  /** Two field managers applying different keys of one object both keep their keys. */
  void serverSideApplyMergesTwoManagers() {
    String name = unique("ssa");
    ConfigMap fromA =
        new ConfigMapBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace("default")
            .endMetadata()
            .addToData("a", "1")
            .build();
    ConfigMap fromB =
        new ConfigMapBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace("default")
            .endMetadata()
            .addToData("b", "2")
            .build();
    client.configMaps().resource(fromA).fieldManager("manager-a").serverSideApply();
    client.configMaps().resource(fromB).fieldManager("manager-b").serverSideApply();

    ConfigMap merged = client.configMaps().inNamespace("default").withName(name).get();
    assertThat(merged.getData()).containsExactlyInAnyOrderEntriesOf(Map.of("a", "1", "b", "2"));
    assertThat(merged.getMetadata().getManagedFields())
        .extracting(ManagedFieldsEntry::getManager)
        .contains("manager-a", "manager-b");
  }

  /** Writing through the status subresource leaves spec as it was. */
  void statusUpdateDoesNotChangeSpec() {
    String name = unique("status");
    var resources = client.genericKubernetesResources(LAYER_NAMESPACES);
    resources.resource(layerNamespace(name, 2)).create();

    GenericKubernetesResource current = resources.withName(name).get();
    current.setAdditionalProperty("spec", Map.of("replicas", 5));
    current.setAdditionalProperty("status", Map.of("nodeCount", 3));
    resources.resource(current).updateStatus();

    GenericKubernetesResource after = resources.withName(name).get();
    assertThat(after.<Integer>get("spec", "replicas")).isEqualTo(2);
    assertThat(after.<Integer>get("status", "nodeCount")).isEqualTo(3);
    resources.withName(name).delete();
  }

  /** An object whose owner is deleted is removed by the garbage collector. */
  void dependentIsGarbageCollected() {
    ConfigMap owner =
        client
            .configMaps()
            .inNamespace("default")
            .resource(
                new ConfigMapBuilder()
                    .withNewMetadata()
                    .withName(unique("owner"))
                    .endMetadata()
                    .build())
            .create();
    ConfigMap dependent =
        client
            .configMaps()
            .inNamespace("default")
            .resource(
                new ConfigMapBuilder()
                    .withNewMetadata()
                    .withName(unique("dependent"))
                    .addNewOwnerReference()
                    .withApiVersion("v1")
                    .withKind("ConfigMap")
                    .withName(owner.getMetadata().getName())
                    .withUid(owner.getMetadata().getUid())
                    .endOwnerReference()
                    .endMetadata()
                    .build())
            .create();
    client.configMaps().resource(owner).delete();

    await("garbage collection of " + dependent.getMetadata().getName())
        .atMost(gcTimeout)
        .pollInterval(Duration.ofMillis(250))
        .until(
            () ->
                client
                        .configMaps()
                        .inNamespace("default")
                        .withName(dependent.getMetadata().getName())
                        .get()
                    == null);
  }
}
