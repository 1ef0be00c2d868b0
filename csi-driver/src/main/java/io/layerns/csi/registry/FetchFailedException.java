package io.layerns.csi.registry;

import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.DigestMismatchException;
import io.layerns.csi.store.LayerRefusedException;
import java.io.IOException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Nothing could be fetched: every source was tried and failed. The message lists each source and
 * why; {@link #reason()} sums them up for callers that map it to a CSI error code.
 */
public final class FetchFailedException extends IOException {
  private static final long serialVersionUID = 1L;

  /**
   * One source's failure.
   *
   * @param source the source, as {@link ContentSource#describe()} names it
   * @param error what it failed with
   */
  public record Attempt(String source, IOException error) {
    /** How this attempt failed. */
    public Reason reason() {
      return reasonOf(error);
    }
  }

  private final transient List<Attempt> attempts;

  public FetchFailedException(String what, List<Attempt> attempts) {
    super(message(what, attempts), attempts.isEmpty() ? null : attempts.getLast().error());
    this.attempts = List.copyOf(attempts);
  }

  /** Each source tried, in order, with its error. */
  public List<Attempt> attempts() {
    return attempts;
  }

  /**
   * The failure's kind: the one all sources agree on, else the first that is not NOT_FOUND or
   * UNAVAILABLE (a problem someone must fix), else UNAVAILABLE.
   */
  public Reason reason() {
    if (attempts.isEmpty()) {
      return Reason.NOT_FOUND;
    }
    Reason first = attempts.getFirst().reason();
    if (attempts.stream().allMatch(a -> a.reason() == first)) {
      return first;
    }
    return attempts.stream()
        .map(Attempt::reason)
        .filter(r -> r != Reason.NOT_FOUND && r != Reason.UNAVAILABLE)
        .findFirst()
        .orElse(Reason.UNAVAILABLE);
  }

  static Reason reasonOf(IOException e) {
    if (e instanceof RegistryException r) {
      return r.reason();
    }
    if (e instanceof DigestMismatchException || e instanceof LayerRefusedException) {
      return Reason.CORRUPT;
    }
    if (e instanceof UnsupportedManifestException) {
      return Reason.UNSUPPORTED;
    }
    return Reason.UNAVAILABLE;
  }

  private static String message(String what, List<Attempt> attempts) {
    if (attempts.isEmpty()) {
      return "could not fetch " + what + ": no source to fetch it from";
    }
    return "could not fetch "
        + what
        + ": "
        + attempts.stream()
            .map(
                a ->
                    a.error() instanceof RegistryException
                        ? a.error().getMessage() // already names the registry or peer
                        : a.source() + ": " + a.error().getMessage())
            .collect(Collectors.joining("; "));
  }
}
