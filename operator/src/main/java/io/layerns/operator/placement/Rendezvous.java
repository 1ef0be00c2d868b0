package io.layerns.operator.placement;

/**
 * Highest-random-weight hashing of (layer, node): the same on every JVM, since it depends only on
 * the characters of the names (no {@code String.hashCode} salt, no random seed).
 */
final class Rendezvous {
  private Rendezvous() {}

  /** A well-mixed 64-bit hash of a name: FNV-1a over its UTF-16 chars, then a finalizer. */
  static long hash(String name) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < name.length(); i++) {
      h ^= name.charAt(i);
      h *= 0x100000001b3L;
    }
    return mix(h);
  }

  /** The weight of a node for a layer; the node with the highest weight wins ties. */
  static long weight(long layerHash, long nodeHash) {
    return mix(layerHash ^ nodeHash);
  }

  // MurmurHash3's fmix64: every input bit flips each output bit with probability about 1/2.
  private static long mix(long h) {
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h;
  }
}
