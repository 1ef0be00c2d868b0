package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;

/** What a node holds and serves; written by that node's agent only. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerStoreStatus(
    @JsonPropertyDescription("The metadata.generation of the spec the agent last acted on.")
        Long observedGeneration,
    @JsonPropertyDescription("Where this node exports its store to peers.")
        StoreEndpoints endpoints,
    @JsonPropertyDescription("Bytes this node may use for layers.") Long capacityBytes,
    @JsonPropertyDescription("Bytes this node's layers take.") Long usedBytes,
    @JsonPropertyDescription("capacityBytes in binary units.") String capacitySize,
    @JsonPropertyDescription("usedBytes in binary units.") String usedSize,
    @JsonPropertyDescription("Number of layers in spec.layers.") Integer assignedLayers,
    @JsonPropertyDescription("Number of layers held in state Present.") Integer heldLayers,
    @JsonPropertyDescription("Layers on this node's disk, with their state, sorted by digest.")
        List<HeldLayer> layers,
    @JsonPropertyDescription("Volumes published on this node and the layers they use.")
        List<PublishedVolume> volumes,
    @JsonPropertyDescription("Number of volumes published on this node.") Integer volumeCount,
    @JsonPropertyDescription(
            "Ready (the agent serves and its exports are up), ColdTierReady (the bucket can be"
                + " read and written with the credentials; absent without a cold tier), and"
                + " failures.")
        List<Condition> conditions,
    @JsonPropertyDescription(
            "Bytes of layer blobs this node has fetched from member peers since its store was"
                + " made.")
        Long fetchedFromPeersBytes,
    @JsonPropertyDescription(
            "Bytes of layer blobs this node has fetched from registries since its store was"
                + " made.")
        Long fetchedFromRegistriesBytes,
    @JsonPropertyDescription(
            "Layers this node pulled or read for itself (its own imports, preloads and volumes)"
                + " and no longer holds nor reads, most recent last: without layerns it would"
                + " still keep a copy of each. At most 10000.")
        List<String> releasedLayers,
    @JsonPropertyDescription(
            "The bucket copies of the layers this node is the cold keeper of"
                + " (spec.layers[].coldKeeper), sorted by digest. Reports for other layers are"
                + " ignored.")
        List<ColdCopy> coldCopies,
    @JsonPropertyDescription(
            "Bytes of layer blobs this node has fetched from its namespace's cold tier bucket"
                + " since its store was made.")
        Long fetchedFromBucketBytes) {

  /** A status that does not count bytes fetched from the bucket. */
  public LayerStoreStatus(
      Long observedGeneration,
      StoreEndpoints endpoints,
      Long capacityBytes,
      Long usedBytes,
      String capacitySize,
      String usedSize,
      Integer assignedLayers,
      Integer heldLayers,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      Integer volumeCount,
      List<Condition> conditions,
      Long fetchedFromPeersBytes,
      Long fetchedFromRegistriesBytes,
      List<String> releasedLayers,
      List<ColdCopy> coldCopies) {
    this(
        observedGeneration,
        endpoints,
        capacityBytes,
        usedBytes,
        capacitySize,
        usedSize,
        assignedLayers,
        heldLayers,
        layers,
        volumes,
        volumeCount,
        conditions,
        fetchedFromPeersBytes,
        fetchedFromRegistriesBytes,
        releasedLayers,
        coldCopies,
        null);
  }

  /** A status without cold copies (no cold tier, or an agent that does not keep any). */
  public LayerStoreStatus(
      Long observedGeneration,
      StoreEndpoints endpoints,
      Long capacityBytes,
      Long usedBytes,
      String capacitySize,
      String usedSize,
      Integer assignedLayers,
      Integer heldLayers,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      Integer volumeCount,
      List<Condition> conditions,
      Long fetchedFromPeersBytes,
      Long fetchedFromRegistriesBytes,
      List<String> releasedLayers) {
    this(
        observedGeneration,
        endpoints,
        capacityBytes,
        usedBytes,
        capacitySize,
        usedSize,
        assignedLayers,
        heldLayers,
        layers,
        volumes,
        volumeCount,
        conditions,
        fetchedFromPeersBytes,
        fetchedFromRegistriesBytes,
        releasedLayers,
        null);
  }

  /** A status without the savings figures (an agent that does not count them). */
  public LayerStoreStatus(
      Long observedGeneration,
      StoreEndpoints endpoints,
      Long capacityBytes,
      Long usedBytes,
      String capacitySize,
      String usedSize,
      Integer assignedLayers,
      Integer heldLayers,
      List<HeldLayer> layers,
      List<PublishedVolume> volumes,
      Integer volumeCount,
      List<Condition> conditions) {
    this(
        observedGeneration,
        endpoints,
        capacityBytes,
        usedBytes,
        capacitySize,
        usedSize,
        assignedLayers,
        heldLayers,
        layers,
        volumes,
        volumeCount,
        conditions,
        null,
        null,
        null,
        null);
  }
}
