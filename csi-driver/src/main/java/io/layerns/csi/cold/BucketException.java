package io.layerns.csi.cold;

import java.io.IOException;

/** The bucket answered, or failed to, in a way the message names (endpoint, bucket, key). */
public final class BucketException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong; the first three are the reasons of the {@code ColdTierReady} condition. */
  public enum Reason {
    /** 403, or a signature or key the server does not know: the Secret's keys are wrong. */
    CREDENTIALS_INVALID("CredentialsInvalid"),
    /** The bucket does not exist at that endpoint. */
    BUCKET_MISSING("BucketMissing"),
    /** No answer (connection refused, timeout) or a server error. */
    UNREACHABLE("Unreachable"),
    /** The object is not in the bucket. */
    NOT_FOUND("Missing"),
    /** The object's bytes do not hash to the digest it is stored under. */
    CORRUPT("Corrupt"),
    /** Any other refusal. */
    OTHER("Failed");

    private final String condition;

    Reason(String condition) {
      this.condition = condition;
    }

    /** The CamelCase word for conditions and events. */
    public String condition() {
      return condition;
    }
  }

  private final Reason reason;

  public BucketException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  public BucketException(Reason reason, String message) {
    this(reason, message, null);
  }

  public Reason reason() {
    return reason;
  }
}
