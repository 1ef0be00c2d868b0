package io.layerns.operator.placement;

/** A layer that needs more owners than member nodes have room for, and why, for status. */
public record NoCapacity(String digest, long sizeBytes, int owners, int wanted, String message) {}
