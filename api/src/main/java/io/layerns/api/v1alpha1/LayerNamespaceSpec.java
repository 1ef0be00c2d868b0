package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import java.util.List;
import java.util.Map;

/** What the admin asks of a pool of nodes. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LayerNamespaceSpec(
    @JsonPropertyDescription(
            "Labels a node must carry to be a member of this namespace. Empty selects every"
                + " node. A node selected by two namespaces joins neither and both report it.")
        Map<String, String> nodeSelector,
    @JsonPropertyDescription(
            "Copies kept of each layer across the member nodes. 1 keeps a single copy (maximal"
                + " dedup); higher values survive that many minus one node failures.")
        @Default("2")
        @Min(1)
        Integer replicas,
    @JsonPropertyDescription(
            "How a node uses a layer it does not hold: Nfs (kernel NFSv4 mount of a peer's"
                + " export), Sshfs (FUSE mount of a peer's read-only SFTP export) or Copy (fetch,"
                + " verify and keep a local copy).")
        @Default("Sshfs")
        Transport transport,
    @JsonPropertyDescription(
            "Seconds a copy that is no longer owned and no longer used is kept before the node"
                + " drops it.")
        @Default("300")
        @Min(0)
        Integer evictionGracePeriodSeconds,
    @JsonPropertyDescription(
            "Seconds a member node may be NotReady before it loses its ownerships and its layers"
                + " are re-replicated elsewhere.")
        @Default("300")
        @Min(0)
        Integer nodeNotReadyTimeoutSeconds,
    @JsonPropertyDescription(
            "Bytes of layer data each member node may store, for example 50Gi. Unset means the"
                + " free space of the node's store.")
        @Pattern("^[0-9]+(\\.[0-9]+)?([KMGTPE]i?|[kMGTPE]|e[0-9]+)?$")
        String nodeCapacity,
    @JsonPropertyDescription(
            "Images whose layers the namespace imports ahead of any pod, by tag or digest.")
        // A bound on the list; a CEL rule over each reference costs more than the API server's
        // budget allows, so the node agent checks each one (and reports it in FetchFailed).
        @Size(max = 100)
        List<String> preloadImages,
    @JsonPropertyDescription(
            "Verify before break: a copy of a layer is dropped for dedup only when replicas"
                + " owners hold copies their nodes verified within this many seconds, or verified"
                + " again when asked. 0 (the default) asks the owners to re-read their copies"
                + " before every such drop.")
        @Default("0")
        @Min(0)
        Integer verifiedWithinSeconds,
    @JsonPropertyDescription(
            "A bucket in an S3-compatible object store that keeps one copy of every layer; once a"
                + " layer's bucket copy is Confirmed, coldTier.replicas node copies are kept"
                + " instead of replicas. Absent: no cold tier.")
        ColdTier coldTier) {

  /** A spec without a cold tier. */
  public LayerNamespaceSpec(
      Map<String, String> nodeSelector,
      Integer replicas,
      Transport transport,
      Integer evictionGracePeriodSeconds,
      Integer nodeNotReadyTimeoutSeconds,
      String nodeCapacity,
      List<String> preloadImages,
      Integer verifiedWithinSeconds) {
    this(
        nodeSelector,
        replicas,
        transport,
        evictionGracePeriodSeconds,
        nodeNotReadyTimeoutSeconds,
        nodeCapacity,
        preloadImages,
        verifiedWithinSeconds,
        null);
  }

  /** A spec with the default verification window. */
  public LayerNamespaceSpec(
      Map<String, String> nodeSelector,
      Integer replicas,
      Transport transport,
      Integer evictionGracePeriodSeconds,
      Integer nodeNotReadyTimeoutSeconds,
      String nodeCapacity,
      List<String> preloadImages) {
    this(
        nodeSelector,
        replicas,
        transport,
        evictionGracePeriodSeconds,
        nodeNotReadyTimeoutSeconds,
        nodeCapacity,
        preloadImages,
        null,
        null);
  }
}
