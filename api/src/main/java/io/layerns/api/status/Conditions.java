package io.layerns.api.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Kubernetes condition conventions: one condition per type, sorted by type, and {@code
 * lastTransitionTime} kept unless the status flips, so that an unchanged observation writes
 * nothing.
 */
public final class Conditions {
  public static final String READY = "Ready";

  /**
   * A LayerStore condition, True while some image given to the node to preload fails to import (its
   * message names them and why); the operator keeps the namespace not Ready meanwhile.
   */
  public static final String PRELOAD_FAILED = "PreloadFailed";

  /**
   * The cold tier's health: on a LayerStore, True while the node reaches the bucket with its
   * credentials; on a LayerNamespace, True while every member does and no bucket copy is Missing,
   * Corrupt or Failed. Absent without a cold tier.
   */
  public static final String COLD_TIER_READY = "ColdTierReady";

  private Conditions() {}

  /** {@code existing} with the condition of {@code type} set; the input list is not changed. */
  public static List<Condition> set(
      List<Condition> existing,
      String type,
      boolean status,
      String reason,
      String message,
      Long observedGeneration,
      Instant now) {
    String statusText = status ? "True" : "False";
    Optional<Condition> previous = find(existing, type);
    String since =
        previous
            .filter(c -> statusText.equals(c.getStatus()) && c.getLastTransitionTime() != null)
            .map(Condition::getLastTransitionTime)
            .orElse(now.truncatedTo(ChronoUnit.SECONDS).toString());
    Condition updated =
        new ConditionBuilder()
            .withType(type)
            .withStatus(statusText)
            .withReason(reason)
            .withMessage(message)
            .withObservedGeneration(observedGeneration)
            .withLastTransitionTime(since)
            .build();
    List<Condition> out = new ArrayList<>();
    if (existing != null) {
      existing.stream().filter(c -> !Objects.equals(c.getType(), type)).forEach(out::add);
    }
    out.add(updated);
    out.sort(Comparator.comparing(Condition::getType));
    return out;
  }

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    return conditions == null
        ? Optional.empty()
        : conditions.stream().filter(c -> Objects.equals(c.getType(), type)).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(c -> "True".equals(c.getStatus())).orElse(false);
  }

  /** When the condition last changed status, or empty if it is absent or has no time. */
  public static Optional<Instant> since(List<Condition> conditions, String type) {
    return find(conditions, type)
        .map(Condition::getLastTransitionTime)
        .filter(Objects::nonNull)
        .map(Instant::parse);
  }
}
