package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** Volumes on one node that use a layer, and the copy they read. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerReference(
    @JsonPropertyDescription("Node where the volumes are published.") String node,
    @JsonPropertyDescription(
            "Node whose copy the volumes read: the same node for a local copy, a peer for a"
                + " remote mount.")
        String readsFrom,
    @JsonPropertyDescription("Number of published volumes.") Integer volumes) {}
