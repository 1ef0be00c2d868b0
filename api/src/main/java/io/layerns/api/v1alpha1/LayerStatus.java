package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;

/** Where a layer's copies are and who uses them; written by the operator. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerStatus(
    @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
        Long observedGeneration,
    @JsonPropertyDescription("The LayerNamespaces whose nodes hold, own or use this layer.")
        List<String> namespaces,
    @JsonPropertyDescription("Compressed size in binary units, for example 12Mi.") String size,
    @JsonPropertyDescription("Nodes that hold a copy, with the copy's state, sorted by node.")
        List<LayerHolder> holders,
    @JsonPropertyDescription("Number of Present copies.") Integer copies,
    @JsonPropertyDescription(
            "Nodes that must keep a copy: the placement decision, spec.replicas of them.")
        List<String> owners,
    @JsonPropertyDescription("Owners as a comma-separated list, for kubectl get.")
        String ownerSummary,
    @JsonPropertyDescription("Published volumes that use this layer, per node that mounts them.")
        List<LayerReference> references,
    @JsonPropertyDescription("Number of published volumes that use this layer.")
        Integer referenceCount,
    @JsonPropertyDescription(
            "Available (a Present copy exists), Replicated (copies reach spec.replicas), Lost, and"
                + " Ready.")
        List<Condition> conditions,
    @JsonPropertyDescription(
            "Holders with a Present copy as a comma-separated list, for kubectl get.")
        String holderSummary,
    @JsonPropertyDescription(
            "The layer's copy in its namespace's cold tier bucket, as its cold keeper reports it;"
                + " absent without a cold tier.")
        LayerColdCopy coldCopy) {

  /** A status without a cold copy or holder summary. */
  public LayerStatus(
      Long observedGeneration,
      List<String> namespaces,
      String size,
      List<LayerHolder> holders,
      Integer copies,
      List<String> owners,
      String ownerSummary,
      List<LayerReference> references,
      Integer referenceCount,
      List<Condition> conditions) {
    this(
        observedGeneration,
        namespaces,
        size,
        holders,
        copies,
        owners,
        ownerSummary,
        references,
        referenceCount,
        conditions,
        null,
        null);
  }
}
