package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** One layer of a published volume and whose copy it reads. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VolumeLayer(
    @JsonPropertyDescription("Digest of the layer.") String digest,
    @JsonPropertyDescription(
            "Node whose copy is read: this node for a local copy, a peer for a remote mount.")
        String readsFrom) {}
