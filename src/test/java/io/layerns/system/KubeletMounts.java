package io.layerns.system;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.mount.MountTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Guards, keys and clean-up for the kubelet-like ITs, which mount for real. */
public final class KubeletMounts {
  private KubeletMounts() {}

  /**
   * Skips unless the JVM runs as root in a mount namespace of its own (src/test/jvm/bin/java), so
   * that no mount of the test can reach the host's mount table.
   */
  public static void assumeRootInPrivateMountNamespace() throws IOException {
    String uid =
        Files.readAllLines(Path.of("/proc/self/status")).stream()
            .filter(l -> l.startsWith("Uid:"))
            .findFirst()
            .orElseThrow()
            .split("\\s+")[1];
    assumeTrue(uid.equals("0"), "real mounts need root; this test runs as uid " + uid);
    long parent = ProcessHandle.current().parent().orElseThrow().pid();
    boolean privateNamespace =
        !Files.readSymbolicLink(Path.of("/proc/self/ns/mnt"))
            .equals(Files.readSymbolicLink(Path.of("/proc/" + parent + "/ns/mnt")));
    assumeTrue(privateNamespace, "the JVM shares the host's mount namespace; run it via failsafe");
  }

  /** An ECDSA key pair ({@code id}, {@code id.pub}) in {@code dir}, for tests' own ssh clients. */
  public static Path keyPair(Path dir) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    Process p =
        new ProcessBuilder(
                "ssh-keygen",
                "-q",
                "-t",
                "ecdsa",
                "-b",
                "256",
                "-N",
                "",
                "-f",
                dir.resolve("id").toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("ssh-keygen failed: " + out);
    }
    return dir;
  }

  /** Lazily unmounts everything at or below {@code dir}, deepest and latest first. */
  public static void unmountAllUnder(Path dir) throws IOException, InterruptedException {
    List<MountTable.Entry> left = MountTable.mountsUnder(dir);
    for (MountTable.Entry e : left.reversed()) {
      Process p = new ProcessBuilder("umount", "-l", e.mountPoint()).inheritIO().start();
      p.waitFor(30, TimeUnit.SECONDS);
    }
  }
}
