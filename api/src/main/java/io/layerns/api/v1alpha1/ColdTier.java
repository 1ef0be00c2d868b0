package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/**
 * A bucket in an S3-compatible object store that keeps one copy of every layer of a namespace. A
 * copy there counts toward durability: once it is Confirmed, the namespace keeps {@link #replicas}
 * node copies of the layer instead of the namespace's own replicas.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ColdTier(
    @JsonPropertyDescription(
            "Base URL of the S3-compatible endpoint, http or https, for example"
                + " https://s3.example.internal:9000.")
        @Required
        @Pattern("^https?://[^\\s/?#]+(/[^\\s?#]*)?$")
        String endpoint,
    @JsonPropertyDescription("Bucket the layers are kept in; it must exist.")
        @Required
        @Size(min = 3, max = 63)
        String bucket,
    @JsonPropertyDescription("Prefix of every object key the cold tier writes in the bucket.")
        @Default("layerns/")
        String prefix,
    @JsonPropertyDescription("Region the requests are signed for.") @Default("us-east-1")
        String region,
    @JsonPropertyDescription(
            "Address the bucket in the path (endpoint/bucket/key) rather than as a host name"
                + " (bucket.endpoint/key). Most self-hosted servers need true.")
        @Default("true")
        Boolean pathStyle,
    @JsonPropertyDescription(
            "Name of a Secret in the node plugin's namespace with the keys accessKeyId and"
                + " secretAccessKey.")
        @Required
        String credentialsSecret,
    @JsonPropertyDescription(
            "Node copies kept of a layer whose bucket copy is Confirmed, instead of the"
                + " namespace's replicas. 0 keeps a layer only in the bucket (and on nodes whose"
                + " volumes use it). A layer whose bucket copy is not Confirmed keeps the"
                + " namespace's replicas, and its last node copy is never dropped.")
        @Default("1")
        @Min(0)
        Integer replicas) {

  /** Key prefix when none is given. */
  public static final String DEFAULT_PREFIX = "layerns/";

  /** Signing region when none is given. */
  public static final String DEFAULT_REGION = "us-east-1";

  /** {@link #replicas} with its default applied. */
  public int replicasOrDefault() {
    return replicas == null ? 1 : replicas;
  }

  /** {@link #prefix} with its default applied. */
  public String prefixOrDefault() {
    return prefix == null ? DEFAULT_PREFIX : prefix;
  }

  /** {@link #region} with its default applied. */
  public String regionOrDefault() {
    return region == null ? DEFAULT_REGION : region;
  }

  /** {@link #pathStyle} with its default applied. */
  public boolean pathStyleOrDefault() {
    return pathStyle == null || pathStyle;
  }
}
