package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;

/** A CSI volume published on this node, and the layers it reads. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PublishedVolume(
    @JsonPropertyDescription("CSI volume id.") String volumeId,
    @JsonPropertyDescription("namespace/name of the pod that uses the volume.") String pod,
    @JsonPropertyDescription("Image reference the volume shows.") String image,
    @JsonPropertyDescription("Layers the volume reads, in manifest order.")
        List<VolumeLayer> layers) {}
