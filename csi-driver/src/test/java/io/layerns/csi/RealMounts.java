package io.layerns.csi;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.mount.MountTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Guards and clean-up for ITs that mount for real. */
public final class RealMounts {

  private RealMounts() {}

  /** Skips the test unless it runs as root, which mount(2) needs. */
  public static void assumeRoot() throws IOException {
    String uid =
        Files.readAllLines(Path.of("/proc/self/status")).stream()
            .filter(l -> l.startsWith("Uid:"))
            .findFirst()
            .orElseThrow()
            .split("\\s+")[1];
    assumeTrue(uid.equals("0"), "real mounts need root; this test runs as uid " + uid);
  }

  /**
   * Whether this JVM has a mount namespace of its own, apart from the Maven process that forked it
   * (see src/test/jvm/bin/java; unshare execs the JVM, so the parent is Maven).
   */
  public static boolean inPrivateMountNamespace() throws IOException {
    long parent = ProcessHandle.current().parent().orElseThrow().pid();
    return !Files.readSymbolicLink(Path.of("/proc/self/ns/mnt"))
        .equals(Files.readSymbolicLink(Path.of("/proc/" + parent + "/ns/mnt")));
  }

  /** Unmounts everything at or below {@code dir}, deepest and latest first. */
  public static void unmountAllUnder(Path dir) throws IOException, InterruptedException {
    List<MountTable.Entry> left = MountTable.mountsUnder(dir);
    for (MountTable.Entry e : left.reversed()) {
      Process p = new ProcessBuilder("umount", "-l", e.mountPoint()).inheritIO().start();
      p.waitFor(30, TimeUnit.SECONDS);
    }
  }
}
