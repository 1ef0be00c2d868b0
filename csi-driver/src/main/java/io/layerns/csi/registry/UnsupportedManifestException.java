package io.layerns.csi.registry;

import java.io.IOException;

/** A manifest or image config this node cannot use: malformed, or of an unsupported kind. */
public final class UnsupportedManifestException extends IOException {
  private static final long serialVersionUID = 1L;

  public UnsupportedManifestException(String message) {
    super(message);
  }
}
