package io.layerns.csi.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Mounts with util-linux {@code mount} and {@code umount}, as root. */
public final class CommandMounter implements Mounter {

  private static final Logger LOG = LoggerFactory.getLogger(CommandMounter.class);

  /** The source name of our overlays, so they can be told apart in mountinfo. */
  public static final String OVERLAY_SOURCE = "layerns";

  /** A local mount either finishes quickly or is stuck; the kubelet gives a call two minutes. */
  private static final long COMMAND_TIMEOUT_SECONDS = 60;

  private final Path scratchDir;

  /**
   * @param scratchDir a directory of ours on the node, for the empty padding layers and the
   *     short-lived link directories of long overlays
   */
  public CommandMounter(Path scratchDir) {
    this.scratchDir = scratchDir;
  }

  @Override
  public void mountReadOnlyOverlay(List<Path> layersBaseFirst, Path target) throws IOException {
    mountOverlay(OverlayOptions.plan(layersBaseFirst, null, null, emptyDirs()), target);
  }

  @Override
  public void mountWritableOverlay(
      List<Path> layersBaseFirst, Path upperDir, Path workDir, Path target) throws IOException {
    mountOverlay(OverlayOptions.plan(layersBaseFirst, upperDir, workDir, emptyDirs()), target);
  }

  @Override
  public void bind(Path source, Path target, boolean readOnly) throws IOException {
    // util-linux (2.27+) turns this into a bind plus a remount with these flags; nodev is named
    // again because that remount would otherwise clear it (see mountOverlay).
    List<String> cmd =
        new ArrayList<>(List.of("mount", "--bind", "-o", readOnly ? "ro,nodev" : "nodev"));
    cmd.addAll(List.of(source.toString(), target.toString()));
    run(cmd, null);
  }

  @Override
  public void unmount(Path target) throws IOException {
    run(List.of("umount", target.toString()), null);
  }

  @Override
  public boolean isMountPoint(Path path) throws IOException {
    return MountTable.isMountPoint(path);
  }

  private void mountOverlay(OverlayOptions plan, Path target) throws IOException {
    // nodev: a device node of an image shows in the volume but never opens, so a layer is no way
    // to a host device, whatever the pod's device cgroup allows; binds of it keep the flag.
    List<String> cmd =
        List.of(
            "mount",
            "-t",
            "overlay",
            OVERLAY_SOURCE,
            "-o",
            "nodev," + plan.options(),
            target.toString());
    if (plan.links().isEmpty()) {
      run(cmd, null);
      return;
    }
    Files.createDirectories(scratchDir);
    Path linkDir = Files.createTempDirectory(scratchDir, "links-");
    try {
      for (Map.Entry<String, Path> link : plan.links().entrySet()) {
        Files.createSymbolicLink(linkDir.resolve(link.getKey()), link.getValue());
      }
      run(cmd, linkDir);
    } finally {
      // The kernel resolved the links during mount(2); they are not needed afterwards.
      for (String name : plan.links().keySet()) {
        Files.deleteIfExists(linkDir.resolve(name));
      }
      Files.deleteIfExists(linkDir);
    }
  }

  private List<Path> emptyDirs() throws IOException {
    List<Path> dirs = List.of(scratchDir.resolve("empty/0"), scratchDir.resolve("empty/1"));
    for (Path d : dirs) {
      Files.createDirectories(d);
    }
    return dirs;
  }

  private static void run(List<String> cmd, Path workingDir) throws IOException {
    LOG.debug("running {} in {}", cmd, workingDir);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    if (workingDir != null) {
      pb.directory(workingDir.toFile());
    }
    Process p = pb.start();
    try {
      if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(
            String.join(" ", cmd) + " did not finish in " + COMMAND_TIMEOUT_SECONDS + "s");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + String.join(" ", cmd), e);
    }
    // mount and umount print a line or two, well under a pipe buffer, so reading after the exit
    // cannot deadlock.
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    if (p.exitValue() != 0) {
      throw new IOException(
          String.join(" ", cmd) + " failed with exit code " + p.exitValue() + ": " + output);
    }
  }
}
