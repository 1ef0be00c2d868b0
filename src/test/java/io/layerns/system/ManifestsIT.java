package io.layerns.system;

import static io.layerns.system.RbacCase.allow;
import static io.layerns.system.RbacCase.deny;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.layerns.api.v1alpha1.CopyState;
import io.layerns.api.v1alpha1.CrdConstants;
import io.layerns.api.v1alpha1.HeldLayer;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.LayerStoreStatus;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.ControlPlaneExtension;
import io.layerns.testing.WithControlPlane;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * manifests/ installs on the real API server with the README's commands, every object in it is
 * accepted, and its RBAC gives each component what it uses and nothing more: asked of the API
 * server row by row, and shown by running the operator and a node plugin's writes on their own
 * service-account tokens.
 */
@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ManifestsIT {
  private static final String NS = "layerns-system";
  private static final String DIGEST = "sha256:" + "3".repeat(64);

  /** kubectl kustomize manifests/, rendered once for the whole class. */
  private static List<GenericKubernetesResource> rendered;

  private ControlPlane cp;
  private KubernetesClient admin;

  static synchronized List<GenericKubernetesResource> rendered() {
    if (rendered == null) {
      ManifestKubectl.Result r = ManifestKubectl.offline("kustomize", "manifests/");
      assertThat(r.succeeded()).as(r.describe()).isTrue();
      KubernetesSerialization yaml = new KubernetesSerialization();
      rendered =
          Arrays.stream(r.output().split("(?m)^---$"))
              .filter(doc -> !doc.isBlank())
              .map(doc -> yaml.unmarshal(doc, GenericKubernetesResource.class))
              .toList();
    }
    return rendered;
  }

  /** Installs exactly as the README says: the CRDs, then the kustomization. */
  @BeforeAll
  void installWithTheReadmeCommands(ControlPlane controlPlane) {
    cp = controlPlane;
    admin = controlPlane.client();
    for (String[] command :
        List.of(
            new String[] {"apply", "-f", "crds/"}, new String[] {"apply", "-k", "manifests/"})) {
      ManifestKubectl.Result r = ManifestKubectl.against(cp, command);
      assertThat(r.succeeded()).as("the README's install command failed: " + r.describe()).isTrue();
    }
  }

  // ---------------------------------------------------------------- every object is accepted

  static Stream<Arguments> renderedObjects() {
    return rendered().stream().map(o -> Arguments.of(label(o), o));
  }

  @ParameterizedTest(name = "[accepted] {0}")
  @MethodSource("renderedObjects")
  void everyRenderedObjectIsInstalledAndPassesServerSideDryRun(
      String what, GenericKubernetesResource object) {
    assertThat(admin.resource(object).get())
        .as("`kubectl apply -k manifests/` did not create %s", what)
        .isNotNull();
    // A second field manager's dry run: the server validates and admits the whole object
    // (schema, defaults, immutable fields, CEL of the policy) without changing anything.
    HasMetadata answer =
        admin
            .resource(object)
            .dryRun()
            .fieldManager("layerns-manifests-it")
            .forceConflicts()
            .serverSideApply();
    assertThat(answer.getKind()).as(what).isEqualTo(object.getKind());
  }

  @Test
  @DisplayName(
      "When manifests/ is applied, then the only image is layerns' own and the node plugin's"
          + " liveness probe calls the plugin's /healthz on the port it serves it on")
  void onlyTheLayernsImageAndThePluginProbesItself() {
    DaemonSet ds = template("DaemonSet", DaemonSet.class);
    Deployment operator = template("Deployment", Deployment.class);
    assertThat(
            Stream.concat(
                    ds.getSpec().getTemplate().getSpec().getContainers().stream(),
                    operator.getSpec().getTemplate().getSpec().getContainers().stream())
                .map(c -> c.getImage()))
        .as("an image besides layerns is one more an admin must mirror (no sidecars)")
        .containsOnly("layerns:0.1.0");
    var plugin = ds.getSpec().getTemplate().getSpec().getContainers().getFirst();
    var probe = plugin.getLivenessProbe().getHttpGet();
    assertThat(probe.getPath()).isEqualTo("/healthz");
    int port =
        plugin.getPorts().stream()
            .filter(p -> probe.getPort().getStrVal().equals(p.getName()))
            .findFirst()
            .orElseThrow()
            .getContainerPort();
    assertThat(plugin.getArgs()).contains("--health-port=" + port);
  }

  @Test
  @DisplayName(
      "When manifests/ is applied, then Prometheus finds both components' /metrics: a named port"
          + " and scrape annotations that point at the port each serves it on")
  void metricsPortsAreNamedAndAnnotatedForPrometheus() {
    DaemonSet ds = template("DaemonSet", DaemonSet.class);
    Deployment operator = template("Deployment", Deployment.class);
    var plugin = ds.getSpec().getTemplate().getSpec().getContainers().getFirst();
    int pluginPort =
        plugin.getPorts().stream()
            .filter(p -> p.getName().equals("http-metrics"))
            .findFirst()
            .orElseThrow()
            .getContainerPort();
    assertThat(plugin.getArgs()).contains("--health-port=" + pluginPort);
    assertThat(ds.getSpec().getTemplate().getMetadata().getAnnotations())
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/port", Integer.toString(pluginPort))
        .containsEntry("prometheus.io/path", "/metrics");
    int operatorPort =
        operator.getSpec().getTemplate().getSpec().getContainers().getFirst().getPorts().stream()
            .filter(p -> p.getName().equals("http"))
            .findFirst()
            .orElseThrow()
            .getContainerPort();
    assertThat(operator.getSpec().getTemplate().getMetadata().getAnnotations())
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/port", Integer.toString(operatorPort))
        .containsEntry("prometheus.io/path", "/metrics");
  }

  @Test
  @DisplayName(
      "When manifests/ is applied, then the node plugin can write containerd's host files: the"
          + " host's /etc/containerd/certs.d mounted writable where LAYERNS_CONTAINERD_HOSTS_DIR"
          + " points, and no registry listed until the admin lists some")
  void containerdHostsFolderIsMountedWhereThePluginWritesIt() {
    var spec = template("DaemonSet", DaemonSet.class).getSpec().getTemplate().getSpec();
    var plugin = spec.getContainers().getFirst();
    Map<String, String> env =
        plugin.getEnv().stream()
            .filter(e -> e.getValue() != null)
            .collect(java.util.stream.Collectors.toMap(e -> e.getName(), e -> e.getValue()));
    assertThat(env)
        .containsEntry("LAYERNS_MIRROR_REGISTRIES", "")
        .containsEntry("LAYERNS_CONTAINERD_HOSTS_DIR", "/etc/containerd/certs.d");
    var mount =
        plugin.getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals(env.get("LAYERNS_CONTAINERD_HOSTS_DIR")))
            .findFirst()
            .orElseThrow();
    assertThat(mount.getReadOnly()).as("the plugin writes there").isNotEqualTo(Boolean.TRUE);
    var volume =
        spec.getVolumes().stream()
            .filter(v -> v.getName().equals(mount.getName()))
            .findFirst()
            .orElseThrow();
    assertThat(volume.getHostPath().getPath())
        .as("containerd's default config_path in its docs")
        .isEqualTo("/etc/containerd/certs.d");
    assertThat(volume.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
  }

  @Test
  @DisplayName(
      "When an overlay enables the node-driver-registrar component, then the sidecar replaces the"
          + " plugin's own registration and every object is accepted")
  void registrarComponentIsAccepted() throws Exception {
    // An admin's overlay, as the component's comment shows; kustomize wants relative paths.
    Path overlay = Files.createTempDirectory("layerns-overlay");
    Path manifests = ControlPlaneExtension.repoRoot().resolve("manifests");
    Files.writeString(
        overlay.resolve("kustomization.yaml"),
        """
        resources: [%s]
        components: [%s]
        """
            .formatted(
                overlay.relativize(manifests),
                overlay.relativize(manifests.resolve("node-driver-registrar"))));
    try {
      ManifestKubectl.Result yaml = ManifestKubectl.offline("kustomize", overlay.toString());
      assertThat(yaml.succeeded()).as(yaml.describe()).isTrue();
      DaemonSet ds = rendered(yaml.output(), "DaemonSet", DaemonSet.class);
      var containers = ds.getSpec().getTemplate().getSpec().getContainers();
      assertThat(containers)
          .extracting(c -> c.getName())
          .as("the component adds the registrar next to the plugin")
          .containsExactlyInAnyOrder("node-plugin", "node-driver-registrar");
      assertThat(containers.getFirst().getArgs())
          .as("the plugin must not register itself when the sidecar does")
          .contains("--registration-dir=")
          .doesNotContain("--registration-dir=/registration");
      ManifestKubectl.Result dryRun =
          ManifestKubectl.against(cp, "apply", "-k", overlay.toString(), "--dry-run=server");
      assertThat(dryRun.succeeded()).as(dryRun.describe()).isTrue();
      assertThat(dryRun.output()).contains("daemonset.apps/layerns-node-plugin");
    } finally {
      Files.delete(overlay.resolve("kustomization.yaml"));
      Files.delete(overlay);
    }
  }

  // ---------------------------------------------------------------- pods are admitted

  @Test
  @DisplayName(
      "When the operator's pod is created in a restricted namespace, then Pod Security admits it")
  void operatorPodPassesRestrictedPodSecurity() {
    String ns = "layerns-restricted-check";
    admin
        .namespaces()
        .resource(
            new NamespaceBuilder()
                .withNewMetadata()
                .withName(ns)
                .addToLabels("pod-security.kubernetes.io/enforce", "restricted")
                .endMetadata()
                .build())
        .serverSideApply();
    // The service accounts must exist there too, or the ServiceAccount admission plugin refuses
    // the pods before Pod Security looks at them.
    for (String sa : List.of("layerns-operator", "layerns-node-plugin")) {
      admin
          .serviceAccounts()
          .inNamespace(ns)
          .resource(
              new ServiceAccountBuilder().withNewMetadata().withName(sa).endMetadata().build())
          .serverSideApply();
    }
    Pod pod = podOf(template("Deployment", Deployment.class).getSpec().getTemplate(), ns);
    assertThat(admin.pods().inNamespace(ns).resource(pod).dryRun().create())
        .as("the operator pod must pass Pod Security 'restricted'")
        .isNotNull();
    // The same check refuses the privileged node plugin: it is a real check, and the reason
    // layerns-system is labelled privileged.
    Pod plugin = podOf(template("DaemonSet", DaemonSet.class).getSpec().getTemplate(), ns);
    assertThatThrownBy(() -> admin.pods().inNamespace(ns).resource(plugin).dryRun().create())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining("violates PodSecurity \"restricted:");
  }

  @Test
  @DisplayName(
      "When the node plugin's pod is created in layerns-system, then every admission plugin admits it")
  void nodePluginPodIsAdmittedInItsNamespace() {
    // Pod Security (privileged), Priority (system-node-critical outside kube-system) and the
    // service account: what the DaemonSet controller's pods would meet.
    Pod pod = podOf(template("DaemonSet", DaemonSet.class).getSpec().getTemplate(), NS);
    pod.getSpec().setNodeName("any-node");
    Pod admitted = admin.pods().inNamespace(NS).resource(pod).dryRun().create();
    assertThat(admitted.getSpec().getPriority())
        .as("system-node-critical resolved to its priority")
        .isEqualTo(2_000_001_000);
  }

  // ---------------------------------------------------------------- RBAC, row by row

  static Stream<RbacCase> rbacTable() {
    String op = "operator";
    String np = "node-plugin";
    return Stream.of(
        // The operator: everything it uses...
        allow(op, "get", "nodes"),
        allow(op, "list", "nodes"),
        allow(op, "watch", "nodes"),
        allow(op, "get", "layerns.io/layernamespaces"),
        allow(op, "list", "layerns.io/layernamespaces"),
        allow(op, "watch", "layerns.io/layernamespaces"),
        allow(op, "patch", "layerns.io/layernamespaces/status"),
        allow(op, "list", "layerns.io/layers"),
        allow(op, "watch", "layerns.io/layers"),
        allow(op, "create", "layerns.io/layers"),
        allow(op, "patch", "layerns.io/layers"),
        allow(op, "delete", "layerns.io/layers"),
        allow(op, "patch", "layerns.io/layers/status"),
        allow(op, "list", "layerns.io/layerstores"),
        allow(op, "watch", "layerns.io/layerstores"),
        allow(op, "create", "layerns.io/layerstores"),
        allow(op, "patch", "layerns.io/layerstores"),
        allow(op, "delete", "layerns.io/layerstores"),
        allow(op, "create", "events.k8s.io/events").in("default"),
        allow(op, "create", "events").in("default"),
        allow(op, "patch", "events").in("default"),
        allow(op, "get", "coordination.k8s.io/leases").in(NS).named("layerns-operator"),
        allow(op, "create", "coordination.k8s.io/leases").in(NS),
        allow(op, "update", "coordination.k8s.io/leases").in(NS).named("layerns-operator"),
        allow(op, "patch", "coordination.k8s.io/leases").in(NS).named("layerns-operator"),
        // ...and nothing else.
        deny(op, "delete", "nodes"),
        deny(op, "patch", "nodes"),
        deny(op, "update", "nodes/status"),
        deny(op, "update", "layerns.io/layernamespaces"),
        deny(op, "patch", "layerns.io/layernamespaces"),
        deny(op, "delete", "layerns.io/layernamespaces"),
        deny(op, "patch", "layerns.io/layerstores/status"),
        deny(op, "update", "layerns.io/layerstores/status"),
        deny(op, "get", "secrets").in("kube-system"),
        deny(op, "get", "secrets").in(NS).named("some-other-secret"),
        deny(op, "list", "secrets").in(NS),
        deny(op, "watch", "secrets").in(NS),
        // No Secret at all: each node makes its own key pair (issue 15).
        deny(op, "create", "secrets").in(NS),
        deny(op, "get", "secrets").in(NS).named("layerns-sftp-key"),
        deny(op, "update", "secrets").in(NS).named("layerns-sftp-key"),
        deny(op, "delete", "secrets").in(NS).named("layerns-sftp-key"),
        deny(op, "create", "coordination.k8s.io/leases").in("kube-system"),
        deny(op, "delete", "coordination.k8s.io/leases").in(NS).named("layerns-operator"),
        deny(op, "get", "pods").in("default"),
        deny(op, "create", "pods").in(NS),
        deny(op, "create", "customresourcedefinitions"),
        deny(op, "create", "rbac.authorization.k8s.io/clusterrolebindings"),
        deny(op, "escalate", "rbac.authorization.k8s.io/clusterroles"),
        deny(op, "impersonate", "serviceaccounts").in(NS),
        // The node plugin: everything it uses...
        allow(np, "get", "layerns.io/layerstores"),
        allow(np, "list", "layerns.io/layerstores"),
        allow(np, "watch", "layerns.io/layerstores"),
        allow(np, "patch", "layerns.io/layerstores/status"),
        allow(np, "update", "layerns.io/layerstores/status"),
        allow(np, "get", "nodes"),
        // Members' addresses come from their Node objects, followed by a watch.
        allow(np, "list", "nodes"),
        allow(np, "watch", "nodes"),
        allow(np, "create", "events.k8s.io/events").in("default"),
        allow(np, "create", "events").in("default"),
        allow(np, "patch", "events").in("default"),
        // The cold tier's credentials, by name, in its own namespace.
        allow(np, "get", "secrets").in(NS).named("layerns-cold-tier"),
        // ...and nothing else: the spec is the operator's, Layers are the operator's.
        deny(np, "patch", "layerns.io/layerstores"),
        deny(np, "update", "layerns.io/layerstores"),
        deny(np, "create", "layerns.io/layerstores"),
        deny(np, "delete", "layerns.io/layerstores"),
        deny(np, "create", "layerns.io/layers"),
        deny(np, "patch", "layerns.io/layers"),
        deny(np, "delete", "layerns.io/layers"),
        deny(np, "patch", "layerns.io/layers/status"),
        deny(np, "patch", "layerns.io/layernamespaces"),
        deny(np, "patch", "layerns.io/layernamespaces/status"),
        // No pods and no pull secrets: the kubelet passes a volume's nodePublishSecretRef.
        deny(np, "get", "secrets").in("team-a").named("regcred"),
        deny(np, "get", "secrets").in("kube-system"),
        deny(np, "get", "secrets").in(NS).named("some-other-secret"),
        deny(np, "get", "pods").in("team-a"),
        deny(np, "list", "secrets"),
        deny(np, "watch", "secrets"),
        deny(np, "list", "secrets").in("team-a"),
        deny(np, "get", "secrets").in(NS).named("layerns-sftp-key"),
        deny(np, "update", "secrets").in(NS).named("layerns-sftp-key"),
        deny(np, "create", "secrets").in(NS),
        deny(np, "list", "secrets").in(NS),
        deny(np, "update", "secrets").in(NS).named("layerns-cold-tier"),
        deny(np, "get", "secrets").in("team-a").named("layerns-cold-tier"),
        deny(np, "list", "pods"),
        deny(np, "create", "pods").in(NS),
        deny(np, "delete", "pods").in("team-a"),
        deny(np, "patch", "nodes"),
        deny(np, "patch", "nodes/status"),
        deny(np, "update", "coordination.k8s.io/leases").in(NS).named("layerns-operator"),
        deny(np, "get", "configmaps").in("team-a"),
        deny(np, "create", "rbac.authorization.k8s.io/rolebindings").in(NS));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rbacTable")
  void apiServerDecidesAsTheTableSays(RbacCase row) {
    var status = row.review(admin);
    assertThat(status.getAllowed()).as(row.failureMessage(status)).isEqualTo(row.allowed());
  }

  // ---------------------------------------------------------------- the components, for real

  @Test
  @DisplayName(
      "When the node plugin, with its own token, asks for a pull Secret of an unrelated namespace,"
          + " then the API server refuses it (403)")
  void nodePluginCannotGetASecretOfAnUnrelatedNamespace() {
    String tenant = "unrelated-tenant";
    admin
        .namespaces()
        .resource(new NamespaceBuilder().withNewMetadata().withName(tenant).endMetadata().build())
        .createOr(n -> n.update());
    admin
        .secrets()
        .inNamespace(tenant)
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName("regcred")
                .endMetadata()
                .withType("kubernetes.io/dockerconfigjson")
                .addToStringData(".dockerconfigjson", "{\"auths\":{}}")
                .build())
        .createOr(s -> s.update());
    try (KubernetesClient plugin =
        RbacTokens.clientFor(cp, RbacTokens.token(admin, "node-plugin"))) {
      assertThatThrownBy(() -> plugin.secrets().inNamespace(tenant).withName("regcred").get())
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      assertThatThrownBy(() -> plugin.pods().inNamespace(tenant).list())
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      // Not even a Secret of its own namespace: its SFTP key is its own, made on its node.
      assertThatThrownBy(() -> plugin.secrets().inNamespace(NS).withName("layerns-sftp-key").get())
          .isInstanceOfSatisfying(
              KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }
  }

  @Test
  @DisplayName(
      "When the operator and a node plugin run on their own service-account tokens, then the"
          + " stores, the Layer, the statuses, the event and the Lease all appear")
  void operatorAndNodePluginDoTheirJobWithTheirOwnTokens() throws Exception {
    String pool = "manifests-e2e";
    List<String> nodes = List.of(pool + "-1", pool + "-2");
    nodes.forEach(n -> addNode(n, Map.of("layerns.test/pool", pool)));
    var config =
        new OperatorConfig("manifests-it-operator", NS, true, false, 0, Duration.ofSeconds(5));
    try (KubernetesClient operatorClient =
            RbacTokens.clientFor(cp, RbacTokens.token(admin, "operator"));
        KubernetesClient pluginClient =
            RbacTokens.clientFor(cp, RbacTokens.nodePluginTokenOn(admin, nodes.getFirst()));
        LayernsOperator operator = new LayernsOperator(operatorClient, config, Clock.systemUTC())) {
      operator.start();
      LayerNamespace lns = new LayerNamespace();
      lns.setMetadata(new ObjectMetaBuilder().withName(pool).build());
      lns.setSpec(
          new LayerNamespaceSpec(
              Map.of("layerns.test/pool", pool), 1, Transport.Sshfs, 60, 300, null, null));
      admin.resource(lns).create();

      // layerstores create (server-side apply), nodes list/watch.
      for (String n : nodes) {
        await("LayerStore " + n + " created by the operator's service account")
            .atMost(Duration.ofSeconds(60))
            .until(() -> admin.resources(LayerStore.class).withName(n).get(), s -> s != null);
      }
      // layerstores/status as node 1's plugin (RBAC and the node policy), then layers create
      // and layers/status patch as the operator.
      await("node plugin of " + nodes.getFirst() + " reports its layer")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(() -> report(pluginClient, nodes.getFirst(), DIGEST));
      Layer layer =
          await("Layer of the reported digest, with its holder")
              .atMost(Duration.ofSeconds(60))
              .until(
                  () -> admin.resources(Layer.class).withName(CrdConstants.layerName(DIGEST)).get(),
                  l -> l != null && l.getStatus() != null && l.getStatus().holders() != null);
      assertThat(layer.getStatus().holders())
          .extracting(LayerHolder::node)
          .containsExactly(nodes.getFirst());
      // layernamespaces/status patch.
      await("LayerNamespace status written by the operator")
          .atMost(Duration.ofSeconds(60))
          .until(
              () -> admin.resources(LayerNamespace.class).withName(pool).get().getStatus(),
              s ->
                  s != null
                      && s.nodeCount() != null
                      && s.nodeCount() == 2
                      && Integer.valueOf(1).equals(s.layerCount()));
      // events.k8s.io create.
      // Which nodes the events name, not how many events: overlapping reconciles may record a
      // join more than once, which is the operator's business, not RBAC's.
      await("NodeJoined events recorded by the operator for both nodes")
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () ->
                  assertThat(
                          admin
                              .events()
                              .v1()
                              .events()
                              .inNamespace("default")
                              .list()
                              .getItems()
                              .stream()
                              .filter(e -> "manifests-it-operator".equals(e.getReportingInstance()))
                              .filter(e -> "NodeJoined".equals(e.getReason()))
                              .map(e -> e.getNote()))
                      .as("events the operator recorded with its own token")
                      .anyMatch(note -> note.contains(nodes.get(0) + " joined"))
                      .anyMatch(note -> note.contains(nodes.get(1) + " joined")));
      // leases get/create/update/patch: acquired, then renewed (a renewal is a PATCH).
      Lease lease =
          await("leader-election Lease held by the operator")
              .atMost(Duration.ofSeconds(30))
              .until(
                  () -> admin.leases().inNamespace(NS).withName(LayernsOperator.LEASE_NAME).get(),
                  l ->
                      l != null && "manifests-it-operator".equals(l.getSpec().getHolderIdentity()));
      ZonedDateTime acquired = lease.getSpec().getRenewTime();
      await("the operator renews its Lease (RBAC must allow the renewal's verb)")
          .atMost(Duration.ofSeconds(30))
          .until(
              () ->
                  admin
                      .leases()
                      .inNamespace(NS)
                      .withName(LayernsOperator.LEASE_NAME)
                      .get()
                      .getSpec()
                      .getRenewTime(),
              renewed -> renewed.isAfter(acquired));
    } finally {
      admin.resources(LayerNamespace.class).withName(pool).delete();
      nodes.forEach(n -> admin.nodes().withName(n).delete());
      admin.pods().inNamespace(NS).withName("layerns-node-plugin-" + nodes.getFirst()).delete();
    }
  }

  @Test
  @DisplayName(
      "When a node plugin writes another node's LayerStore, then the API server refuses it with"
          + " the policy's message")
  void nodePluginWritesOnlyTheStoreOfItsOwnNode() {
    String a = "manifests-vap-a";
    String b = "manifests-vap-b";
    for (String n : List.of(a, b)) {
      addNode(n, Map.of());
      LayerStore store = new LayerStore();
      store.setMetadata(new ObjectMetaBuilder().withName(n).build());
      store.setSpec(new LayerStoreSpec(n, "manifests-vap", null, null, null, null, null));
      admin.resource(store).create();
    }
    try {
      String tokenA = RbacTokens.nodePluginTokenOn(admin, a);
      String tokenB = RbacTokens.nodePluginTokenOn(admin, b);
      String unbound = RbacTokens.token(admin, "node-plugin");
      assertThat(RbacTokens.whoIs(admin, tokenA).getExtra())
          .as("a pod-bound token names the pod's node (Kubernetes 1.32+); the policy relies on it")
          .containsEntry(RbacTokens.NODE_NAME_EXTRA, List.of(a));
      try (KubernetesClient pluginA = RbacTokens.clientFor(cp, tokenA);
          KubernetesClient pluginB = RbacTokens.clientFor(cp, tokenB);
          KubernetesClient noNode = RbacTokens.clientFor(cp, unbound)) {
        // The admission plugin loads a new policy asynchronously: wait until it refuses.
        await("the node policy is in force")
            .atMost(Duration.ofSeconds(30))
            .untilAsserted(
                () ->
                    assertThatThrownBy(() -> report(pluginA, b, DIGEST))
                        .isInstanceOf(KubernetesClientException.class)
                        .hasMessageContaining(
                            "the layerns node plugin on node "
                                + a
                                + " may write only LayerStore "
                                + a
                                + ", not "
                                + b)
                        .satisfies(
                            e ->
                                assertThat(((KubernetesClientException) e).getCode())
                                    .isEqualTo(403)));

        report(pluginA, a, DIGEST);
        report(pluginB, b, DIGEST);
        assertThat(admin.resources(LayerStore.class).withName(a).get().getStatus().layers())
            .as("node A's own write went through")
            .extracting(HeldLayer::digest)
            .containsExactly(DIGEST);
        assertThatThrownBy(() -> report(pluginB, a, DIGEST))
            .hasMessageContaining(
                "on node " + b + " may write only LayerStore " + b + ", not " + a);
        assertThatThrownBy(() -> report(noNode, a, DIGEST))
            .hasMessageContaining("this token names no node");
        // The policy leaves the operator's writes alone (the admin stands in for it here).
        LayerStore spec = admin.resources(LayerStore.class).withName(b).get();
        spec.getMetadata().setManagedFields(null);
        spec.setSpec(new LayerStoreSpec(b, "manifests-vap-2", null, null, null, null, null));
        assertThat(admin.resource(spec).update().getSpec().namespace())
            .isEqualTo("manifests-vap-2");
      }
    } finally {
      for (String n : List.of(a, b)) {
        admin.resources(LayerStore.class).withName(n).delete();
        admin.nodes().withName(n).delete();
        admin.pods().inNamespace(NS).withName("layerns-node-plugin-" + n).delete();
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  /** A node plugin's report: its store's status, written as the agent writes it. */
  private static void report(KubernetesClient plugin, String node, String digest) {
    LayerStore store = plugin.resources(LayerStore.class).withName(node).get();
    store.setStatus(
        new LayerStoreStatus(
            store.getMetadata().getGeneration(),
            null,
            10L << 30,
            1000L,
            "10Gi",
            "1000",
            0,
            1,
            List.of(
                new HeldLayer(
                    digest,
                    1000L,
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    CopyState.Present,
                    null)),
            List.of(),
            0,
            null));
    store.getMetadata().setManagedFields(null);
    store.getMetadata().setResourceVersion(null);
    plugin.resource(store).patchStatus();
  }

  private void addNode(String name, Map<String, String> labels) {
    admin
        .nodes()
        .resource(
            new NodeBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(labels)
                .endMetadata()
                .build())
        .create();
  }

  private static String label(GenericKubernetesResource o) {
    String ns = o.getMetadata().getNamespace();
    return o.getKind() + " " + (ns == null ? "" : ns + "/") + o.getMetadata().getName();
  }

  private <T extends HasMetadata> T template(String kind, Class<T> type) {
    GenericKubernetesResource found =
        rendered().stream().filter(o -> kind.equals(o.getKind())).findFirst().orElseThrow();
    return admin.getKubernetesSerialization().convertValue(found, type);
  }

  private static <T> T rendered(String yaml, String kind, Class<T> type) {
    KubernetesSerialization s = new KubernetesSerialization();
    return Arrays.stream(yaml.split("(?m)^---$"))
        .filter(doc -> !doc.isBlank())
        .map(doc -> s.unmarshal(doc, GenericKubernetesResource.class))
        .filter(o -> kind.equals(o.getKind()))
        .map(o -> s.convertValue(o, type))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + kind + " rendered"));
  }

  private static Pod podOf(PodTemplateSpec template, String namespace) {
    Pod pod = new Pod();
    pod.setMetadata(
        new ObjectMetaBuilder()
            .withName("template-check")
            .withNamespace(namespace)
            .withLabels(template.getMetadata().getLabels())
            .build());
    pod.setSpec(template.getSpec());
    return pod;
  }
}
