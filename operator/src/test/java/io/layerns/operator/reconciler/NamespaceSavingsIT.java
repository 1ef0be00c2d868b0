package io.layerns.operator.reconciler;

import static io.layerns.operator.testing.SimulatedCluster.digest;
import static io.layerns.operator.testing.SimulatedCluster.present;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.operator.testing.SimulatedCluster;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.WithControlPlane;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Issue 18's savings on a real control plane: three nodes pull the same image, dedup leaves one
 * copy, and the namespace's status and {@code kubectl get lns} show what the nodes would store with
 * a copy each against what they store, and the registry bytes the peers saved.
 */
@WithControlPlane
class NamespaceSavingsIT {
  private static final String NS = "savings";
  private static final Map<String, String> POOL = Map.of("layerns.test/pool", NS);
  private static final String BASE = digest("savings-base");
  private static final String APP = digest("savings-app");
  private static final long BASE_SIZE = 30L << 20;
  private static final long APP_SIZE = 6L << 20;
  private static final long IMAGE = BASE_SIZE + APP_SIZE;

  @Test
  void afterDedupTheNamespaceShowsTheDiskAndRegistryBytesSaved(ControlPlane cp) throws Exception {
    KubernetesClient client = cp.client();
    SimulatedCluster cluster = new SimulatedCluster(client);
    try (LayernsOperator operator =
        new LayernsOperator(
            cp.newAdminClient(), OperatorConfig.embedded("savings-it"), Clock.systemUTC())) {
      operator.start();
      List<String> nodes = List.of("save-1", "save-2", "save-3");
      for (String n : nodes) {
        cluster.addNode(n, POOL);
      }
      LayerNamespace ns = new LayerNamespace();
      ns.setMetadata(new ObjectMetaBuilder().withName(NS).build());
      ns.setSpec(new LayerNamespaceSpec(POOL, 1, Transport.Sshfs, 60, 300, null, null));
      client.resource(ns).create();

      // Each node pulled the image from the registry: nothing shared yet.
      for (String n : nodes) {
        cluster.report(
            n,
            List.of(present(BASE, BASE_SIZE), present(APP, APP_SIZE)),
            List.of(),
            0,
            IMAGE,
            List.of());
      }
      LayerNamespaceStatus before =
          awaitStatus(client, s -> s.storedBytes() != null && s.storedBytes() == 3 * IMAGE);
      assertThat(before.privateCopiesBytes()).isEqualTo(3 * IMAGE);
      assertThat(before.savedBytes()).isZero();
      assertThat(before.dedupRatio()).isEqualTo("1.00");
      assertThat(before.registryBytesAvoided()).isZero();

      // Dedup kept save-1's copies. save-2 let go of both; save-3 too, but a pod there reads
      // APP from save-1, and it fetched BASE from a peer once before it let that go.
      cluster.report("save-2", List.of(), List.of(), 0, IMAGE, List.of(BASE, APP));
      cluster.report(
          "save-3",
          List.of(),
          List.of(
              new PublishedVolume(
                  "vol",
                  "default/app",
                  "registry.test/app:1",
                  List.of(new VolumeLayer(APP, "save-1")))),
          BASE_SIZE,
          IMAGE,
          List.of(BASE));
      LayerNamespaceStatus after =
          awaitStatus(client, s -> s.storedBytes() != null && s.storedBytes() == IMAGE);
      // Each node would keep the image: it pulled it (all three), and save-3 reads APP.
      assertThat(after.privateCopiesBytes()).isEqualTo(3 * IMAGE);
      assertThat(after.privateCopiesSize()).isEqualTo("108Mi");
      assertThat(after.savedBytes()).isEqualTo(2 * IMAGE);
      assertThat(after.savedSize()).isEqualTo("72Mi");
      assertThat(after.dedupRatio()).isEqualTo("3.00");
      assertThat(after.registryBytesAvoided()).isEqualTo(BASE_SIZE);
      assertThat(after.registryBytesAvoidedSize()).isEqualTo("30Mi");

      String out = kubectl(cp, "get", "lns", NS);
      String[] header = out.lines().findFirst().orElseThrow().trim().split("\\s+");
      String[] row =
          out.lines()
              .filter(l -> l.startsWith(NS + " "))
              .findFirst()
              .orElseThrow(() -> new AssertionError("no row for " + NS + " in\n" + out))
              .trim()
              .split("\\s+");
      assertThat(List.of(header)).contains("SAVED", "REGISTRY-SAVED").doesNotContain("DEDUP");
      assertThat(row[List.of(header).indexOf("SAVED")]).isEqualTo("72Mi");
      assertThat(row[List.of(header).indexOf("REGISTRY-SAVED")]).isEqualTo("30Mi");
      String wide = kubectl(cp, "get", "lns", NS, "-o", "wide");
      assertThat(wide).contains("PRIVATE-COPIES", "RATIO", "108Mi", "3.00");
      System.out.println("kubectl get lns " + NS + " -o wide\n" + wide);
    }
  }

  private static LayerNamespaceStatus awaitStatus(
      KubernetesClient client, java.util.function.Predicate<LayerNamespaceStatus> done) {
    LayerNamespaceStatus[] seen = new LayerNamespaceStatus[1];
    await("the namespace's status")
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              LayerNamespace ns = client.resources(LayerNamespace.class).withName(NS).get();
              seen[0] = ns == null ? null : ns.getStatus();
              return seen[0] != null && done.test(seen[0]);
            });
    return seen[0];
  }

  private static String kubectl(ControlPlane cp, String... args) throws Exception {
    return cp.runKubectl(args);
  }
}
