package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import java.util.List;

/** What a layer is: its digest, size and where it can be fetched again. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerSpec(
    @JsonPropertyDescription("Digest of the compressed layer blob, sha256:<64 lowercase hex>.")
        @Required
        @Pattern(CrdConstants.DIGEST_PATTERN)
        String digest,
    @JsonPropertyDescription("Size of the compressed layer blob in bytes.") @Min(0) Long size,
    @JsonPropertyDescription(
            "Bytes the unpacked layer takes on a node's disk, as reported by its holders.")
        @Min(0)
        Long unpackedSize,
    @JsonPropertyDescription(
            "Media type of the blob, for example application/vnd.oci.image.layer.v1.tar+gzip.")
        String mediaType,
    @JsonPropertyDescription(
            "Registry repositories the blob can be fetched from again, for example"
                + " registry.example:5000/team/app.")
        List<String> sources) {}
