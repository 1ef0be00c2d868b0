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
    @JsonPropertyDescription("Registry repositories to fetch from when no peer can serve it.")
        List<String> sources) {}
