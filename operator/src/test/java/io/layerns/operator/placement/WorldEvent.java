package io.layerns.operator.placement;

/**
 * Something that happens to a simulated cluster. Nodes, layers and references are picked by index
 * modulo what exists, so every event applies to any world and shrinking keeps them valid.
 */
sealed interface WorldEvent {
  /** A new member node joins, with unlimited room when {@code capacity} is 0. */
  record Join(int capacity) implements WorldEvent {}

  /** A node is deleted; its copies and its volumes vanish with it. */
  record Leave(int node) implements WorldEvent {}

  /** A node stops being Ready. */
  record Crash(int node) implements WorldEvent {}

  /** A NotReady node becomes Ready again, its store intact. */
  record Recover(int node) implements WorldEvent {}

  /** A node imports a layer (a new one when {@code newLayer}) from a registry or a pull. */
  record Import(int node, int layer, boolean newLayer, boolean withSource) implements WorldEvent {}

  /** A pod on a node publishes a volume using a layer, read locally or from a peer. */
  record Publish(int node, int layer, boolean remote) implements WorldEvent {}

  /** A published volume goes away. */
  record Unpublish(int reference) implements WorldEvent {}

  /** The admin changes the namespace's replicas. */
  record SetReplicas(int replicas) implements WorldEvent {}

  /**
   * A Present copy rots silently: its agent still reports it Present, until it verifies it (asked
   * by the operator), finds the rot and takes the copy out. A second passes after it.
   */
  record Rot(int node, int layer) implements WorldEvent {}

  /** Time passes. */
  record Wait(int seconds) implements WorldEvent {}
}
