package io.layerns.system;

import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;

/**
 * One row of the RBAC table: whether the API server must allow a layerns service account one verb
 * on one resource, asked with a SubjectAccessReview as the server would decide a real request.
 *
 * @param allowed what the manifests must give
 * @param component {@code operator} or {@code node-plugin}: service account layerns-{component}
 * @param resource {@code [group/]resource[/subresource]}, for example {@code layerns.io/layers} or
 *     {@code nodes}
 * @param namespace null for cluster-scoped resources and for "in every namespace"
 * @param name null for any name
 */
record RbacCase(
    boolean allowed,
    String component,
    String verb,
    String resource,
    String namespace,
    String name) {
  static final String NAMESPACE = "layerns-system";

  static RbacCase allow(String component, String verb, String resource) {
    return new RbacCase(true, component, verb, resource, null, null);
  }

  static RbacCase deny(String component, String verb, String resource) {
    return new RbacCase(false, component, verb, resource, null, null);
  }

  RbacCase in(String ns) {
    return new RbacCase(allowed, component, verb, resource, ns, name);
  }

  RbacCase named(String n) {
    return new RbacCase(allowed, component, verb, resource, namespace, n);
  }

  String user() {
    return "system:serviceaccount:" + NAMESPACE + ":layerns-" + component;
  }

  /** The groups a real token of this service account carries, so default bindings count too. */
  List<String> groups() {
    return List.of(
        "system:serviceaccounts", "system:serviceaccounts:" + NAMESPACE, "system:authenticated");
  }

  String group() {
    String first = resource.split("/")[0];
    return first.contains(".") ? first : "";
  }

  private String[] resourceAndSubresource() {
    String rest = group().isEmpty() ? resource : resource.substring(group().length() + 1);
    return rest.split("/", 2);
  }

  /** What the API server decides, with its reason (which binding allowed it, if any). */
  SubjectAccessReviewStatus review(KubernetesClient client) {
    String[] rs = resourceAndSubresource();
    SubjectAccessReview sar =
        new SubjectAccessReviewBuilder()
            .withNewSpec()
            .withUser(user())
            .withGroups(groups())
            .withNewResourceAttributes()
            .withVerb(verb)
            .withGroup(group())
            .withResource(rs[0])
            .withSubresource(rs.length > 1 ? rs[1] : null)
            .withNamespace(namespace)
            .withName(name)
            .endResourceAttributes()
            .endSpec()
            .build();
    return client.authorization().v1().subjectAccessReview().create(sar).getStatus();
  }

  /** A sentence for a failed row: what was expected, what the server said, where to fix it. */
  String failureMessage(SubjectAccessReviewStatus status) {
    String where = namespace == null ? "cluster-wide" : "in namespace " + namespace;
    String what = verb + " " + resource + (name == null ? "" : " named " + name) + " " + where;
    String file = "manifests/" + component + "-rbac.yaml";
    return allowed
        ? "layerns-%s must be allowed to %s, but the API server denied it (%s). Add the rule to %s."
            .formatted(component, what, reason(status), file)
        : "layerns-%s must NOT be allowed to %s, but the API server allowed it (%s). Narrow %s."
            .formatted(component, what, reason(status), file);
  }

  private static String reason(SubjectAccessReviewStatus status) {
    String r =
        status.getReason() == null || status.getReason().isBlank()
            ? "no rule matched"
            : status.getReason();
    return status.getEvaluationError() == null ? r : r + "; " + status.getEvaluationError();
  }

  @Override
  public String toString() {
    return "[%s] %s %s %s%s%s"
        .formatted(
            allowed ? "allowed" : "denied",
            component,
            verb,
            resource,
            name == null ? "" : " " + name,
            namespace == null ? "" : " in " + namespace);
  }
}
