package io.layerns.csi.store;

import java.io.IOException;

/**
 * A layer that the store will not unpack: an unsafe or unsupported entry, a limit exceeded, a
 * corrupt archive or a digest that does not match. Nothing of the layer becomes visible.
 */
public final class LayerRefusedException extends IOException {
  private static final long serialVersionUID = 1L;

  private final transient Digest layer;
  private final String entry;
  private final String problem;

  /** A problem with one entry of the layer. */
  public LayerRefusedException(Digest layer, String entry, String problem) {
    super("layer " + layer + " entry " + quote(entry) + ": " + problem);
    this.layer = layer;
    this.entry = entry;
    this.problem = problem;
  }

  /** A problem with the layer as a whole. */
  public LayerRefusedException(Digest layer, String problem) {
    this(layer, problem, (Throwable) null);
  }

  /** A problem with the layer as a whole, found through another exception. */
  public LayerRefusedException(Digest layer, String problem, Throwable cause) {
    super("layer " + layer + ": " + problem, cause);
    this.layer = layer;
    this.entry = null;
    this.problem = problem;
  }

  /** The layer's digest. */
  public Digest layer() {
    return layer;
  }

  /** The offending entry's name as written in the archive, or null for whole-layer problems. */
  public String entry() {
    return entry;
  }

  /** What is wrong, without the layer and entry. */
  public String problem() {
    return problem;
  }

  /** Quotes a name for a message, escaping control characters so the message stays one line. */
  static String quote(String name) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : name.toCharArray()) {
      if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\x%02x", (int) c));
      } else if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
