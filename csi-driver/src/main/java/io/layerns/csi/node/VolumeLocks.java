package io.layerns.csi.node;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** One operation at a time per volume id; a second one is refused rather than queued (ABORTED). */
final class VolumeLocks {

  /** A held lock; closing releases it. */
  interface Held extends AutoCloseable {
    @Override
    void close();
  }

  private final Set<String> held = ConcurrentHashMap.newKeySet();

  /** The lock on {@code volumeId}, or null when another operation holds it. */
  Held tryAcquire(String volumeId) {
    return held.add(volumeId) ? () -> held.remove(volumeId) : null;
  }
}
