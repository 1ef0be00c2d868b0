package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.testing.ControlPlane;
import io.layerns.testing.ControlPlaneExtension;
import io.layerns.testing.cluster.TestCluster;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real test cluster with layerns installed as the README tells an admin: {@code kubectl apply -f
 * crds/} and {@code kubectl apply -k} of the manifests (through {@code hack/local-cluster}, which
 * adds only that the cluster's registry serves plain HTTP), from the image {@code make image}
 * built; returns once the operator and every node plugin are rolled out.
 */
public final class ClusterInstall {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterInstall.class);
  public static final String BUSYBOX = "layerns.local/busybox:1";
  public static final String PAUSE = "layerns.local/pause:3.10";

  private ClusterInstall() {}

  public static TestCluster startWithLayerns(int nodes) {
    return startWithLayerns(archives -> new TestCluster.Options(nodes, PAUSE, archives));
  }

  /** As above, with the cluster's options made from the image archives to import. */
  public static TestCluster startWithLayerns(
      java.util.function.Function<List<Path>, TestCluster.Options> options) {
    return startWithLayerns(options, cluster -> {});
  }

  /** As above, with {@code beforeInstall} run on the started cluster before layerns is applied. */
  public static TestCluster startWithLayerns(
      java.util.function.Function<List<Path>, TestCluster.Options> options,
      java.util.function.Consumer<TestCluster> beforeInstall) {
    return startWithLayerns(options, beforeInstall, LOCAL_CLUSTER);
  }

  /** The test cluster's kustomization: manifests/ plus its plain-HTTP registries. */
  public static final String LOCAL_CLUSTER = "hack/local-cluster";

  /**
   * {@link #LOCAL_CLUSTER} plus containerd pulling the cluster's registries through every node's
   * registry mirror; start the cluster {@link TestCluster.Options#withContainerdHostsFromLayerns}.
   */
  public static final String LOCAL_CLUSTER_MIRROR = "hack/local-cluster-mirror";

  /** As above, applying {@code kustomization} (a folder of the repository) instead. */
  public static TestCluster startWithLayerns(
      java.util.function.Function<List<Path>, TestCluster.Options> options,
      java.util.function.Consumer<TestCluster> beforeInstall,
      String kustomization) {
    assertThat(ProcessHandle.current().info().user())
        .as("a real cluster needs root")
        .hasValue("root");
    Path repo = ControlPlaneExtension.repoRoot();
    Path images = repo.resolve("target/image");
    List<Path> archives =
        List.of(
            images.resolve("pause-3.10.tar"),
            images.resolve("busybox-1.tar"),
            images.resolve("layerns-0.1.0.tar"));
    for (Path archive : archives) {
      assertThat(archive).as("built by `make image`, which `make test` runs first").exists();
    }
    TestCluster cluster = TestCluster.start(ControlPlane.defaultBinDir(), options.apply(archives));
    try {
      beforeInstall.accept(cluster);
      LOG.info("{}", cluster.kubectl("apply", "-f", repo.resolve("crds").toString()));
      LOG.info("{}", cluster.kubectl("apply", "-k", repo.resolve(kustomization).toString()));
      awaitRollout(cluster, "deployment/layerns-operator");
      awaitRollout(cluster, "daemonset/layerns-node-plugin");
      return cluster;
    } catch (RuntimeException | Error e) {
      cluster.close();
      throw e;
    }
  }

  /** Waits for a rollout; if it does not finish, fails with what an admin would look at. */
  private static void awaitRollout(TestCluster cluster, String workload) {
    try {
      cluster.kubectl("-n", "layerns-system", "rollout", "status", workload, "--timeout=240s");
    } catch (IllegalStateException e) {
      String pods = cluster.kubectl("-n", "layerns-system", "get", "pods", "-o", "wide");
      String describe = cluster.kubectl("-n", "layerns-system", "describe", "pods");
      throw new IllegalStateException(
          workload + " did not roll out:\n" + pods + "\n" + describe + "\n" + cluster.logTails(30),
          e);
    }
  }
}
