package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** A peer node and how to reach its exports. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PeerEndpoints(
    @JsonPropertyDescription("Peer node name.") String node,
    @JsonPropertyDescription("The peer's exports.") StoreEndpoints endpoints) {}
