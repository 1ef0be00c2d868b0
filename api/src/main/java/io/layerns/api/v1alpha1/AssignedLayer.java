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
                + " NodeNotReady.")
        String reason,
    @JsonPropertyDescription(
            "Since when the copy has been neither owned nor used (RFC 3339); the node drops it"
                + " once the grace period has passed and it is no longer listed.")
        String idleSince,
    @JsonPropertyDescription(
            "Verify the copy again unless it was verified at or after this time (RFC 3339): the"
                + " operator asks before it lets another copy of the layer go.")
        String verifyAfter) {

  /** An entry that asks for no verification. */
  public AssignedLayer(
      String digest,
      Long size,
      String mediaType,
      List<String> peers,
      List<String> sources,
      String reason,
      String idleSince) {
    this(digest, size, mediaType, peers, sources, reason, idleSince, null);
  }
}
