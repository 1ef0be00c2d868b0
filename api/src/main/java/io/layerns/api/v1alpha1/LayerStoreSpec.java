package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import java.util.List;

/** What a node must hold; written by the operator. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerStoreSpec(
    @JsonPropertyDescription("The node this store lives on.") @Required String nodeName,
    @JsonPropertyDescription("The LayerNamespace the node is a member of.") String namespace,
    @JsonPropertyDescription(
            "Transport of that namespace, copied here so the agent needs no" + " other object.")
        Transport transport,
    @JsonPropertyDescription("Seconds an unowned, unused copy is kept before it is dropped.")
        Integer evictionGracePeriodSeconds,
    @JsonPropertyDescription("Layers this node must hold, with the peers to fetch them from.")
        List<AssignedLayer> layers,
    @JsonPropertyDescription("Export endpoints of the peers named in layers[].peers.")
        List<PeerEndpoints> peers,
    @JsonPropertyDescription("Images to import ahead of any pod.") List<String> preloadImages,
    @JsonPropertyDescription(
            "The namespace's cold tier, copied here so the agent needs no other object; the"
                + " credentials Secret is read from the node plugin's namespace. Absent: no cold"
                + " tier.")
        ColdTier coldTier) {

  /** A spec without a cold tier. */
  public LayerStoreSpec(
      String nodeName,
      String namespace,
      Transport transport,
      Integer evictionGracePeriodSeconds,
      List<AssignedLayer> layers,
      List<PeerEndpoints> peers,
      List<String> preloadImages) {
    this(
        nodeName,
        namespace,
        transport,
        evictionGracePeriodSeconds,
        layers,
        peers,
        preloadImages,
        null);
  }
}
