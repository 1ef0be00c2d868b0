package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed resources are refused by the API server itself (CRD schema and CEL rules), with a
 * message that names the field, before any layerns component sees them.
 */
@WithControlPlane
class ResourceValidationIT {
  private static final String DIGEST = "sha256:" + "a".repeat(64);

  static Stream<Arguments> invalidObjects() {
    return Stream.of(
        Arguments.of("replicas below 1", lns("replicas: 0"), "spec.replicas"),
        Arguments.of("unknown transport", lns("transport: Ftp"), "spec.transport"),
        Arguments.of("negative node capacity", lns("nodeCapacity: -5Gi"), "spec.nodeCapacity"),
        Arguments.of(
            "capacity that is not a quantity", lns("nodeCapacity: lots"), "spec.nodeCapacity"),
        Arguments.of(
            "101 preload images",
            lns("preloadImages: [" + "\"r/a:1\",".repeat(100) + "\"r/a:1\"]"),
            "spec.preloadImages: Too many: 101: must have at most 100 items"),
        Arguments.of(
            "cold tier endpoint that is not http or https",
            lns(cold("endpoint: ftp://s3.test:21, bucket: layers, credentialsSecret: s3")),
            "spec.coldTier.endpoint"),
        Arguments.of(
            "cold tier without a bucket",
            lns(cold("endpoint: http://127.0.0.1:8333, credentialsSecret: s3")),
            "spec.coldTier.bucket"),
        Arguments.of(
            "cold tier without credentials",
            lns(cold("endpoint: http://127.0.0.1:8333, bucket: layers")),
            "spec.coldTier.credentialsSecret"),
        Arguments.of(
            "negative cold tier replicas",
            lns(
                cold(
                    "endpoint: http://127.0.0.1:8333, bucket: layers, credentialsSecret: s3,"
                        + " replicas: -1")),
            "spec.coldTier.replicas"),
        Arguments.of(
            "negative grace period",
            lns("evictionGracePeriodSeconds: -1"),
            "spec.evictionGracePeriodSeconds"),
        Arguments.of(
            "digest not sha256", layer("sha256-" + "a".repeat(64), "md5:abc", 1), "spec.digest"),
        Arguments.of(
            "digest in upper case",
            layer("sha256-" + "a".repeat(64), "sha256:" + "A".repeat(64), 1),
            "spec.digest"),
        Arguments.of(
            "name not the digest",
            layer("sha256-" + "b".repeat(64), DIGEST, 1),
            "metadata.name must be sha256-<hex> of spec.digest"),
        Arguments.of("negative size", layer("sha256-" + "a".repeat(64), DIGEST, -1), "spec.size"),
        Arguments.of(
            "store without node",
            """
            apiVersion: layerns.io/v1alpha1
            kind: LayerStore
            metadata: {name: node-x}
            spec: {namespace: default}
            """,
            "spec.nodeName"),
        Arguments.of(
            "assigned layer with a bad digest",
            """
            apiVersion: layerns.io/v1alpha1
            kind: LayerStore
            metadata: {name: node-y}
            spec:
              nodeName: node-y
              layers: [{digest: "sha256:zz"}]
            """,
            "spec.layers[0].digest"));
  }

  @ParameterizedTest(name = "[refused] {0}")
  @MethodSource("invalidObjects")
  void invalidObjectIsRefusedNamingTheField(
      String what, String yaml, String field, KubernetesClient client) {
    var object =
        client
            .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
            .items()
            .getFirst();
    assertThatThrownBy(() -> client.resource(object).create())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining(field);
  }

  private static String lns(String specLine) {
    return """
        apiVersion: layerns.io/v1alpha1
        kind: LayerNamespace
        metadata: {name: invalid}
        spec:
          %s
        """
        .formatted(specLine);
  }

  private static String cold(String fields) {
    return "coldTier: {" + fields + "}";
  }

  private static String layer(String name, String digest, long size) {
    return """
        apiVersion: layerns.io/v1alpha1
        kind: Layer
        metadata: {name: %s}
        spec: {digest: "%s", size: %d}
        """
        .formatted(name, digest, size);
  }
}
