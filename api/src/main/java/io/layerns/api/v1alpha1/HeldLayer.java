package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import java.util.List;

/** A layer on a node's disk. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record HeldLayer(
    @JsonPropertyDescription("Digest of the compressed layer blob.")
        @Required
        @Pattern(CrdConstants.DIGEST_PATTERN)
        String digest,
    @JsonPropertyDescription("Size of the compressed blob in bytes.") @Min(0) Long size,
    @JsonPropertyDescription("Media type of the blob.") String mediaType,
    @JsonPropertyDescription("State of the copy.") CopyState state,
    @JsonPropertyDescription("Registry repository the layer was imported from, if any.")
        String source,
    @JsonPropertyDescription(
            "When the node last verified this copy (RFC 3339): blob digest and unpacked tree, at"
                + " import or by its scrub.")
        String lastVerified,
    @JsonPropertyDescription(
            "Registry repositories (registry/repository) that hold this layer privately: the node"
                + " knows it only through images a registry served with credentials. Every member"
                + " node lets a pod use the layer only when the pod's own credentials read it from"
                + " one of them; absent when the layer is public.")
        List<String> privateTo) {

  public HeldLayer {
    privateTo = privateTo == null || privateTo.isEmpty() ? null : List.copyOf(privateTo);
  }

  /** A copy with no verification time (not on disk yet, or from an agent that does not scrub). */
  public HeldLayer(String digest, Long size, String mediaType, CopyState state, String source) {
    this(digest, size, mediaType, state, source, null);
  }

  /** A public copy. */
  public HeldLayer(
      String digest,
      Long size,
      String mediaType,
      CopyState state,
      String source,
      String lastVerified) {
    this(digest, size, mediaType, state, source, lastVerified, null);
  }
}
