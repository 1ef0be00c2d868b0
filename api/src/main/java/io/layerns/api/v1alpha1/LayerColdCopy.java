package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** A layer's bucket copy as its cold keeper reports it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerColdCopy(
    @JsonPropertyDescription(
            "Confirmed, Missing, Corrupt or Failed, as the keeper last reported; absent while the"
                + " keeper has not reported the layer yet.")
        ColdCopyState state,
    @JsonPropertyDescription("The member node that writes and checks the bucket copy.") String node,
    @JsonPropertyDescription("When the keeper last checked the object (RFC 3339).")
        String checkedAt,
    @JsonPropertyDescription("The keeper's message.") String message) {}
