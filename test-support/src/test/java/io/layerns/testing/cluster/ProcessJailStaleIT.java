package io.layerns.testing.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Two test clusters may run on one machine at once (two engineers, or a test and a benchmark): a
 * cluster starting must reap only the trees whose JVM is gone, never one a live JVM runs in.
 */
class ProcessJailStaleIT {
  private static final Path PIDS = Path.of("/sys/fs/cgroup/pids");

  @Test
  void reapsTheTreeOfADeadJvmAndLeavesALiveOnesAlone() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Path live = PIDS.resolve(ProcessJail.treeName("staletest"));
    Path dead = PIDS.resolve(ProcessJail.PREFIX + gone.pid() + "-staletest");
    try {
      Files.createDirectory(live);
      Files.createDirectory(dead);

      ProcessJail.removeStale();

      assertThat(live).as("the tree of this JVM, which runs").exists();
      assertThat(dead).as("the tree of a JVM that is gone").doesNotExist();
    } finally {
      for (Path tree : new Path[] {live, dead}) {
        if (Files.exists(tree)) {
          Files.delete(tree);
        }
      }
    }
  }
}
