package io.layerns.system;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.layerns.testing.ControlPlane;

/**
 * Real credentials of the layerns service accounts, issued by the API server's TokenRequest API:
 * unbound, or bound to a pod on a node as the kubelet's projected token of a DaemonSet pod is.
 */
final class RbacTokens {
  static final String NAMESPACE = "layerns-system";

  /** Where the API server puts the bound pod's node in the token's user info (1.32+). */
  static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

  private RbacTokens() {}

  /** A token of {@code layerns-<component>} bound to no object. */
  static String token(KubernetesClient admin, String component) {
    return request(
        admin,
        component,
        new TokenRequestBuilder().withNewSpec().withExpirationSeconds(600L).endSpec().build());
  }

  /**
   * A token of the node plugin bound to a pod scheduled on {@code node} (the pod never runs: no
   * kubelet here; the API server only needs the object).
   */
  static String nodePluginTokenOn(KubernetesClient admin, String node) {
    Pod pod =
        admin
            .pods()
            .inNamespace(NAMESPACE)
            .resource(
                new PodBuilder()
                    .withNewMetadata()
                    .withName("layerns-node-plugin-" + node)
                    .withNamespace(NAMESPACE)
                    .endMetadata()
                    .withNewSpec()
                    .withServiceAccountName("layerns-node-plugin")
                    .withNodeName(node)
                    .addNewContainer()
                    .withName("node-plugin")
                    .withImage("layerns:0.1.0")
                    .endContainer()
                    .endSpec()
                    .build())
            .create();
    TokenRequest request =
        new TokenRequestBuilder()
            .withNewSpec()
            .withExpirationSeconds(600L)
            .withNewBoundObjectRef()
            .withApiVersion("v1")
            .withKind("Pod")
            .withName(pod.getMetadata().getName())
            .withUid(pod.getMetadata().getUid())
            .endBoundObjectRef()
            .endSpec()
            .build();
    return request(admin, "node-plugin", request);
  }

  private static String request(KubernetesClient admin, String component, TokenRequest request) {
    return admin
        .serviceAccounts()
        .inNamespace(NAMESPACE)
        .withName("layerns-" + component)
        .tokenRequest(request)
        .getStatus()
        .getToken();
  }

  /** Who the API server says the token is, with the extra it carries. */
  static UserInfo whoIs(KubernetesClient admin, String token) {
    TokenReview review =
        admin
            .resource(new TokenReviewBuilder().withNewSpec().withToken(token).endSpec().build())
            .create();
    return review.getStatus().getUser();
  }

  /** A client that authenticates with {@code token} and nothing else. */
  static KubernetesClient clientFor(ControlPlane cp, String token) {
    Config config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl(cp.url())
            .withOauthToken(token)
            .withTrustCerts(true)
            .withDisableHostnameVerification(true)
            .withRequestTimeout(30_000)
            .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }
}
