package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

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
        String source) {}
