package io.layerns.csi.cold;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.csi.cold.BucketException.Reason;
import io.layerns.csi.registry.ContentSource;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Optional;

/**
 * The bucket of the namespace's cold tier (as the node's LayerStore spec copies it), with the
 * credentials from its Secret in the node plugin's own namespace ({@code accessKeyId}, {@code
 * secretAccessKey}). The Secret is read again at most every {@link #REREAD} and whenever the cold
 * tier changes, so rotated keys are picked up without a restart; the client is kept while neither
 * changes.
 */
public final class ColdBuckets implements AutoCloseable {
  /** How long a Secret read is trusted. */
  static final Duration REREAD = Duration.ofMinutes(1);

  /** Reads the Secret's data; null when it does not exist. */
  @FunctionalInterface
  public interface Secrets {
    java.util.Map<String, String> read(String namespace, String name);
  }

  private final Secrets secrets;
  private final String namespace;
  private final Clock clock;
  private ColdTier tier;
  private Bucket.Credentials credentials;
  private Bucket bucket;
  private Instant readAt;

  public ColdBuckets(Secrets secrets, String namespace, Clock clock) {
    this.secrets = secrets;
    this.namespace = namespace;
    this.clock = clock;
  }

  /** Reads Secrets with {@code client} (the plugin's own, allowed {@code get} in its namespace). */
  public static ColdBuckets of(KubernetesClient client, String namespace) {
    return new ColdBuckets(
        (ns, name) -> {
          Secret s = client.secrets().inNamespace(ns).withName(name).get();
          return s == null ? null : s.getData() == null ? java.util.Map.of() : s.getData();
        },
        namespace,
        Clock.systemUTC());
  }

  /**
   * The bucket of {@code tier}.
   *
   * @throws BucketException ({@link Reason#CREDENTIALS_INVALID}) when the Secret is missing, cannot
   *     be read, or lacks a key
   */
  public synchronized Bucket bucket(ColdTier tier) throws BucketException {
    Instant now = clock.instant();
    if (bucket != null && tier.equals(this.tier) && now.isBefore(readAt.plus(REREAD))) {
      return bucket;
    }
    Bucket.Credentials read = credentials(tier.credentialsSecret());
    readAt = now;
    if (bucket != null && tier.equals(this.tier) && read.equals(credentials)) {
      return bucket;
    }
    if (bucket != null) {
      bucket.close();
    }
    Bucket.Location location;
    try {
      location = Bucket.Location.of(tier);
    } catch (IllegalArgumentException e) {
      throw new BucketException(Reason.OTHER, e.getMessage(), e);
    }
    bucket = new Bucket(location, read);
    this.tier = tier;
    this.credentials = read;
    return bucket;
  }

  /** The bucket as a content source, or empty without a cold tier. */
  public Optional<ContentSource> source(ColdTier tier) throws BucketException {
    return tier == null ? Optional.empty() : Optional.of(new BucketSource(bucket(tier)));
  }

  private Bucket.Credentials credentials(String name) throws BucketException {
    String where = "Secret " + namespace + "/" + name + " (the cold tier's credentialsSecret)";
    java.util.Map<String, String> data;
    try {
      data = secrets.read(namespace, name);
    } catch (KubernetesClientException e) {
      throw new BucketException(
          Reason.CREDENTIALS_INVALID, "could not read " + where + ": " + e.getMessage(), e);
    }
    if (data == null) {
      throw new BucketException(Reason.CREDENTIALS_INVALID, where + " does not exist");
    }
    return new Bucket.Credentials(
        key(data, "accessKeyId", where), key(data, "secretAccessKey", where));
  }

  private static String key(java.util.Map<String, String> data, String key, String where)
      throws BucketException {
    String value = data.get(key);
    if (value == null || value.isEmpty()) {
      throw new BucketException(Reason.CREDENTIALS_INVALID, where + " has no key " + key);
    }
    try {
      return new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8).strip();
    } catch (IllegalArgumentException e) {
      throw new BucketException(
          Reason.CREDENTIALS_INVALID, where + ": key " + key + " is not base64", e);
    }
  }

  @Override
  public synchronized void close() {
    if (bucket != null) {
      bucket.close();
      bucket = null;
    }
  }
}
