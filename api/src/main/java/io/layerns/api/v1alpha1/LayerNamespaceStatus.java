package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;

/** What the operator observed of a pool of nodes; written by the operator only. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerNamespaceStatus(
    @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
        Long observedGeneration,
    @JsonPropertyDescription("Names of the member nodes, sorted.") List<String> nodes,
    @JsonPropertyDescription("Number of member nodes.") Integer nodeCount,
    @JsonPropertyDescription("Number of member nodes whose agent reports Ready.")
        Integer readyNodes,
    @JsonPropertyDescription("Ready member nodes over all member nodes, for example 2/3.")
        String nodeSummary,
    @JsonPropertyDescription("Number of distinct layers held or owned in this namespace.")
        Integer layerCount,
    @JsonPropertyDescription("Bytes stored on all member nodes together, counting every copy.")
        Long storedBytes,
    @JsonPropertyDescription("Bytes of the distinct layers, counting each layer once.")
        Long uniqueBytes,
    @JsonPropertyDescription("storedBytes in binary units, for example 1.5Gi.") String storedSize,
    @JsonPropertyDescription("uniqueBytes in binary units, for example 512Mi.") String uniqueSize,
    @JsonPropertyDescription(
            "privateCopiesBytes divided by storedBytes, with two decimals: how many times more"
                + " disk the member nodes would use if each kept its own copy.")
        String dedupRatio,
    @JsonPropertyDescription("Layers with fewer Present copies than spec.replicas.")
        Integer underReplicatedLayers,
    @JsonPropertyDescription("Layers with no copy left and no source to fetch them from.")
        Integer lostLayers,
    @JsonPropertyDescription(
            "Latest observations: Ready, NodesConflict (a node selected by more than one"
                + " namespace), Replicated, NoCapacity, ColdTierReady (every member reaches the"
                + " cold tier and no bucket copy is Missing, Corrupt or Failed; absent without a"
                + " cold tier).")
        List<Condition> conditions,
    @JsonPropertyDescription(
            "Bytes the member nodes would store if each kept its own copy of every layer it holds,"
                + " reads through its volumes, or pulled or read for itself and later let go"
                + " (counted while some member still stores the layer).")
        Long privateCopiesBytes,
    @JsonPropertyDescription("privateCopiesBytes in binary units.") String privateCopiesSize,
    @JsonPropertyDescription("privateCopiesBytes less storedBytes: the disk that sharing saves.")
        Long savedBytes,
    @JsonPropertyDescription("savedBytes in binary units, for example 1.2Gi.") String savedSize,
    @JsonPropertyDescription(
            "Bytes of layer blobs the member nodes fetched from each other instead of from a"
                + " registry, summed over their stores' lifetimes (copies made to meet replicas"
                + " included; layers read through remote mounts are not fetched, so not counted).")
        Long registryBytesAvoided,
    @JsonPropertyDescription("registryBytesAvoided in binary units.")
        String registryBytesAvoidedSize,
    @JsonPropertyDescription(
            "Layers whose cold tier bucket copy is Confirmed by their cold keeper; absent without"
                + " a cold tier.")
        Integer coldLayers,
    @JsonPropertyDescription("Bytes of those layers, counting each once.") Long coldBytes,
    @JsonPropertyDescription("coldBytes in binary units.") String coldSize) {

  /** A status without cold tier figures. */
  public LayerNamespaceStatus(
      Long observedGeneration,
      List<String> nodes,
      Integer nodeCount,
      Integer readyNodes,
      String nodeSummary,
      Integer layerCount,
      Long storedBytes,
      Long uniqueBytes,
      String storedSize,
      String uniqueSize,
      String dedupRatio,
      Integer underReplicatedLayers,
      Integer lostLayers,
      List<Condition> conditions,
      Long privateCopiesBytes,
      String privateCopiesSize,
      Long savedBytes,
      String savedSize,
      Long registryBytesAvoided,
      String registryBytesAvoidedSize) {
    this(
        observedGeneration,
        nodes,
        nodeCount,
        readyNodes,
        nodeSummary,
        layerCount,
        storedBytes,
        uniqueBytes,
        storedSize,
        uniqueSize,
        dedupRatio,
        underReplicatedLayers,
        lostLayers,
        conditions,
        privateCopiesBytes,
        privateCopiesSize,
        savedBytes,
        savedSize,
        registryBytesAvoided,
        registryBytesAvoidedSize,
        null,
        null,
        null);
  }

  /** The same status with other conditions. */
  public LayerNamespaceStatus withConditions(List<Condition> newConditions) {
    return new LayerNamespaceStatus(
        observedGeneration,
        nodes,
        nodeCount,
        readyNodes,
        nodeSummary,
        layerCount,
        storedBytes,
        uniqueBytes,
        storedSize,
        uniqueSize,
        dedupRatio,
        underReplicatedLayers,
        lostLayers,
        newConditions,
        privateCopiesBytes,
        privateCopiesSize,
        savedBytes,
        savedSize,
        registryBytesAvoided,
        registryBytesAvoidedSize,
        coldLayers,
        coldBytes,
        coldSize);
  }
}
