package io.layerns.testing.cluster;

import io.layerns.testing.ControlPlane;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Starts a {@link TestCluster} and keeps it until killed, for {@code make demo} and for the test
 * that checks nothing outlives a killed JVM. Arguments: the number of nodes, the sandbox image,
 * then docker-archives to import on every node. Prints the kubeconfig, the registry's local address
 * and the cgroup tree, then "ready".
 */
public final class TestClusterMain {
  private TestClusterMain() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 2) {
      System.err.println("usage: TestClusterMain NODES SANDBOX_IMAGE [ARCHIVE...]");
      System.exit(2);
    }
    List<Path> archives = Arrays.stream(args).skip(2).map(Path::of).toList();
    TestCluster cluster =
        TestCluster.start(
            ControlPlane.defaultBinDir(),
            new TestCluster.Options(Integer.parseInt(args[0]), args[1], archives));
    System.out.println("kubeconfig " + cluster.controlPlane().kubeconfig());
    System.out.println("registry " + cluster.registryFromHost());
    System.out.println("cgroup " + cluster.cgroupTree());
    System.out.println("workdir " + cluster.workDir());
    System.out.println("ready");
    System.out.flush();
    Thread.currentThread().join();
  }
}
