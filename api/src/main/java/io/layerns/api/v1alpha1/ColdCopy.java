package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** A node's report of one layer's bucket copy, for a layer the node is the cold keeper of. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ColdCopy(
    @JsonPropertyDescription("Digest of the compressed layer blob.")
        @Required
        @Pattern(CrdConstants.DIGEST_PATTERN)
        String digest,
    @JsonPropertyDescription(
            "Confirmed (written and read back with a matching digest), Missing, Corrupt or"
                + " Failed (the bucket could not be reached; see message).")
        @Required
        ColdCopyState state,
    @JsonPropertyDescription("Why the copy is not Confirmed, or what was done about it.")
        String message,
    @JsonPropertyDescription("When the node last checked the object in the bucket (RFC 3339).")
        String checkedAt) {}
