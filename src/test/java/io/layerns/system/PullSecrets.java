package io.layerns.system;

import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** Pull secrets as a user makes them for a pod's imagePullSecrets. */
final class PullSecrets {
  private PullSecrets() {}

  /**
   * Creates (or replaces) the {@code kubernetes.io/dockerconfigjson} Secret {@code name} in {@code
   * namespace}, holding {@code user} and {@code password} for {@code registry} (host:port).
   */
  static void create(
      KubernetesClient client,
      String namespace,
      String name,
      String registry,
      String user,
      String password) {
    String auth =
        Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    String config = "{\"auths\":{\"" + registry + "\":{\"auth\":\"" + auth + "\"}}}";
    client
        .secrets()
        .inNamespace(namespace)
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withType("kubernetes.io/dockerconfigjson")
                .addToStringData(".dockerconfigjson", config)
                .build())
        .createOr(s -> s.update());
  }
}
