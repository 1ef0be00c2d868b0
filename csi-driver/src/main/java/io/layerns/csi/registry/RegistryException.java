package io.layerns.csi.registry;

import java.io.IOException;

/** A registry (or peer) that answered, but not with what was asked for; the message says why. */
public final class RegistryException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong, for callers that map it to a CSI error code. */
  public enum Reason {
    /** 401/403: the credentials are wrong, missing, or lack access to the repository. */
    AUTHENTICATION_FAILED,
    /** 404: no such repository, manifest or blob, or no manifest for the node's platform. */
    NOT_FOUND,
    /** The manifest or config is of a kind this node cannot use. */
    UNSUPPORTED,
    /** The source could not be reached, timed out, or answered with a server error. */
    UNAVAILABLE,
    /** The content did not match its digest or size. */
    CORRUPT,
    /** The source broke the protocol: unexpected status, malformed answer. */
    PROTOCOL,
    /** The node may not send requests to the source's address ({@link RegistryAddresses}). */
    ADDRESS_REFUSED
  }

  private final Reason reason;
  private final String source;
  private final int status;

  public RegistryException(Reason reason, String source, int status, String message) {
    super(source + ": " + message);
    this.reason = reason;
    this.source = source;
    this.status = status;
  }

  public RegistryException(Reason reason, String source, String message, Throwable cause) {
    super(source + ": " + message, cause);
    this.reason = reason;
    this.source = source;
    this.status = -1;
  }

  public Reason reason() {
    return reason;
  }

  /** The registry host or peer URL that answered. */
  public String source() {
    return source;
  }

  /** The HTTP status, or -1 when there was none. */
  public int status() {
    return status;
  }
}
