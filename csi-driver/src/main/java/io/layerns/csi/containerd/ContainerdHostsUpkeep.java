package io.layerns.csi.containerd;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps containerd's host files in line with the plugin's settings: once at start, then every
 * period (an admin who deletes a file, or a folder that appears, is picked up without a restart).
 * Logs what changes and tells each newly refused registry once (an event, from the caller).
 */
public final class ContainerdHostsUpkeep {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdHostsUpkeep.class);

  private final ContainerdHosts hosts;
  private final List<String> registries;
  private final Consumer<ContainerdHosts.Refusal> onRefused;
  private Set<String> refusedBefore = Set.of();
  private String failedBefore;

  public ContainerdHostsUpkeep(
      ContainerdHosts hosts, List<String> registries, Consumer<ContainerdHosts.Refusal> onRefused) {
    this.hosts = hosts;
    this.registries = List.copyOf(registries);
    this.onRefused = onRefused;
  }

  /** One pass; never throws (a scheduled task that throws never runs again). */
  public synchronized ContainerdHosts.Outcome runOnce() {
    ContainerdHosts.Outcome outcome;
    try {
      outcome = hosts.sync(registries);
    } catch (IOException | RuntimeException e) {
      String problem = e.toString();
      if (!problem.equals(failedBefore)) {
        LOG.error("could not write containerd's registry host files: {}", problem);
      }
      failedBefore = problem;
      return null;
    }
    failedBefore = null;
    if (!outcome.written().isEmpty()) {
      LOG.info("containerd pulls {} through this node's mirror first", outcome.written());
    }
    if (!outcome.removed().isEmpty()) {
      LOG.info(
          "removed containerd host files of registries no longer listed: {}", outcome.removed());
    }
    for (ContainerdHosts.Refusal r : outcome.refused()) {
      if (!refusedBefore.contains(r.registry())) {
        LOG.warn("{}", r.reason());
        try {
          onRefused.accept(r);
        } catch (RuntimeException e) {
          LOG.warn("could not tell that {} was refused: {}", r.registry(), e.toString());
        }
      }
    }
    refusedBefore =
        outcome.refused().stream()
            .map(ContainerdHosts.Refusal::registry)
            .collect(Collectors.toUnmodifiableSet());
    return outcome;
  }

  /** Runs {@link #runOnce} now and then every {@code period}, on a daemon thread. */
  public ScheduledExecutorService start(Duration period) {
    ScheduledExecutorService s =
        Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().name("containerd-hosts").daemon().unstarted(r));
    s.scheduleWithFixedDelay(this::runOnce, 0, period.toMillis(), TimeUnit.MILLISECONDS);
    return s;
  }
}
