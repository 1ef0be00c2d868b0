package io.layerns.operator.placement;

import java.util.Objects;

/**
 * Published volumes on one node that use a layer.
 *
 * @param node the node where the volumes are published
 * @param readsFrom the node whose copy they read: {@code node} itself for a local copy, a peer for
 *     a remote mount
 */
public record Reference(String node, String readsFrom) {
  public Reference {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(readsFrom, "readsFrom");
  }

  /** Volumes reading the copy on their own node. */
  public static Reference local(String node) {
    return new Reference(node, node);
  }
}
