package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.CopyState;

/** A copy its node may delete now: it is left out of that node's LayerStore spec. */
public record Drop(String node, String digest, CopyState state) {}
