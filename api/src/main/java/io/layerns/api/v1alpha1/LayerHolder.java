package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** One node's copy of a layer. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerHolder(
    @JsonPropertyDescription("Node that holds the copy.") String node,
    @JsonPropertyDescription("State of the copy on that node.") CopyState state) {}
