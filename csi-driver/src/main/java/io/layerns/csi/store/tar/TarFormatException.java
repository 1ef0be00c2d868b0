package io.layerns.csi.store.tar;

import java.io.IOException;

/** A tar stream that is malformed, truncated, or larger than the reader's limits allow. */
public final class TarFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public TarFormatException(String message) {
    super(message);
  }
}
