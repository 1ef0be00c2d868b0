package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import java.util.List;

/** A layer a node must hold, and where to get it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record AssignedLayer(
    @JsonPropertyDescription("Digest of the compressed layer blob.")
        @Required
        @Pattern(CrdConstants.DIGEST_PATTERN)
        String digest,
    @JsonPropertyDescription("Size of the compressed blob in bytes.") @Min(0) Long size,
    @JsonPropertyDescription("Media type of the blob.") String mediaType,
    @JsonPropertyDescription("Peer nodes holding a Present copy, to fetch from first.")
        List<String> peers,
    @JsonPropertyDescription(
            "Registry repositories to fetch from when no peer can serve it; empty while a peer"
                + " must be used.")
        List<String> sources,
    @JsonPropertyDescription(
            "Why the node keeps it: Owner (the placement chose it), InUse (a volume reads this"
                + " copy), GracePeriod (unowned and unused, kept until the grace period ends),"
                + " AwaitingReplacement (kept until a new owner's copy is Present),"
                + " AwaitingVerification (kept until the owners verified their copies again),"
                + " NodeNotReady, ColdKeeper (listed only because this node keeps the layer's"
                + " bucket copy checked: the node need not hold it, fetches nothing for it, and"
                + " drops a copy it holds as it would an unlisted one).")
        String reason,
    @JsonPropertyDescription(
            "Since when the copy has been neither owned nor used (RFC 3339); the node drops it"
                + " once the grace period has passed and it is no longer listed.")
        String idleSince,
    @JsonPropertyDescription(
            "Verify the copy again unless it was verified at or after this time (RFC 3339): the"
                + " operator asks before it lets another copy of the layer go.")
        String verifyAfter,
    @JsonPropertyDescription(
            "This node keeps the layer's bucket copy: it writes it from its verified copy once"
                + " (unless the bucket already holds a verified one), checks it periodically, and"
                + " reports it in status.coldCopies. One node per layer.")
        Boolean coldKeeper) {

  /** Why a node is listed only to keep a layer's bucket copy checked (see {@link #reason}). */
  public static final String REASON_COLD_KEEPER = "ColdKeeper";

  /** An entry for a node that does not keep the layer's bucket copy. */
  public AssignedLayer(
      String digest,
      Long size,
      String mediaType,
      List<String> peers,
      List<String> sources,
      String reason,
      String idleSince,
      String verifyAfter) {
    this(digest, size, mediaType, peers, sources, reason, idleSince, verifyAfter, null);
  }

  /** Whether this node keeps the layer's bucket copy. */
  public boolean keepsColdCopy() {
    return Boolean.TRUE.equals(coldKeeper);
  }

  /**
   * Whether the node must hold a copy: false for an entry listed only so that the node keeps the
   * bucket copy checked.
   */
  public boolean mustHold() {
    return !REASON_COLD_KEEPER.equals(reason);
  }

  /** An entry that asks for no verification. */
  public AssignedLayer(
      String digest,
      Long size,
      String mediaType,
      List<String> peers,
      List<String> sources,
      String reason,
      String idleSince) {
    this(digest, size, mediaType, peers, sources, reason, idleSince, null, null);
  }
}
