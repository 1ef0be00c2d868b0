package io.layerns.testing;

import java.nio.file.Path;

/**
 * Starts a control plane and keeps it until killed: {@code make demo} and the test that checks no
 * process outlives a killed JVM use it. Prints the kubeconfig path and the children's pids.
 */
public final class ControlPlaneMain {
  private ControlPlaneMain() {}

  public static void main(String[] args) throws InterruptedException {
    ControlPlane cp = ControlPlane.start(ControlPlane.defaultBinDir());
    if (args.length > 0) {
      cp.applyCrds(Path.of(args[0]));
    }
    System.out.println("kubeconfig " + cp.kubeconfig());
    for (ManagedProcess p : cp.processes()) {
      System.out.println("pid " + p.name() + " " + p.pid());
    }
    System.out.println("ready");
    System.out.flush();
    Thread.currentThread().join();
  }
}
