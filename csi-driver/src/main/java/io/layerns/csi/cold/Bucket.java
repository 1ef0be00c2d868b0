package io.layerns.csi.cold;

import io.layerns.csi.cold.BucketException.Reason;
import io.layerns.csi.store.Digest;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.OptionalLong;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * A bucket of an S3-compatible object store that keeps layer blobs by digest, under {@code
 * <prefix>blobs/sha256/<hex>} (the OCI layout's blob path, so a copy of the prefix is readable as
 * one). Objects are content-addressed: a blob is written only when the bucket has no good copy, and
 * is Confirmed only after it was read back and hashed to its digest. Every read is verified while
 * it streams. Every failure names the endpoint, the bucket and the key, and says which of wrong
 * credentials, missing bucket, unreachable server or corrupt object it is.
 *
 * <p>On the AWS SDK for Java v2 over the JDK's URLConnection (no Netty, no Apache client: the node
 * plugin has its own Netty for gRPC). The SDK's own checksums are off: third-party servers differ
 * in which they support, and the digest we check after every write and read is a stronger one.
 */
public final class Bucket implements AutoCloseable {
  private static final int CHUNK = 1 << 20;

  /** Where the bucket is: the cold tier's settings with their defaults applied. */
  public record Location(
      URI endpoint, String bucket, String prefix, String region, boolean pathStyle) {
    public Location {
      String scheme = endpoint.getScheme();
      if (!"http".equals(scheme) && !"https".equals(scheme)) {
        throw new IllegalArgumentException(
            "cold tier endpoint " + endpoint + " must be an http or https URL");
      }
      if (bucket == null || bucket.isBlank()) {
        throw new IllegalArgumentException("cold tier at " + endpoint + " names no bucket");
      }
      prefix = prefix == null ? "" : prefix;
    }

    /** A location from the API's cold tier, with its defaults. */
    public static Location of(io.layerns.api.v1alpha1.ColdTier tier) {
      return new Location(
          URI.create(tier.endpoint()),
          tier.bucket(),
          tier.prefixOrDefault(),
          tier.regionOrDefault(),
          tier.pathStyleOrDefault());
    }
  }

  /** An access key; the secret never appears in {@link #toString()}. */
  public record Credentials(String accessKeyId, String secretAccessKey) {
    @Override
    public String toString() {
      return "Credentials[accessKeyId=" + accessKeyId + "]";
    }
  }

  /** What a check of one object found. */
  public enum State {
    /** Present, and its bytes hash to its digest. */
    CONFIRMED,
    /** Not in the bucket. */
    MISSING,
    /** Present, but its bytes hash to something else. */
    CORRUPT
  }

  /**
   * The outcome of a check or a write.
   *
   * @param size bytes read back (-1 when missing)
   * @param written whether this call wrote the object
   * @param message what was found, for status and events
   */
  public record Check(State state, long size, boolean written, String message) {}

  /**
   * Called with the size of each chunk read, to bound the rate: it may sleep until the bytes are
   * paid for (see {@link io.layerns.csi.agent.Scrubber.Pace}).
   */
  @FunctionalInterface
  public interface Pacer {
    Pacer NONE = bytes -> {};

    void read(long bytes) throws IOException;
  }

  private final Location location;
  private final S3Client s3;

  public Bucket(Location location, Credentials credentials) {
    this.location = location;
    this.s3 =
        S3Client.builder()
            .endpointOverride(location.endpoint())
            .region(Region.of(location.region()))
            .forcePathStyle(location.pathStyle())
            .credentialsProvider(
                StaticCredentialsProvider.create(
                    AwsBasicCredentials.create(
                        credentials.accessKeyId(), credentials.secretAccessKey())))
            .httpClient(
                UrlConnectionHttpClient.builder()
                    .connectionTimeout(Duration.ofSeconds(5))
                    .socketTimeout(Duration.ofSeconds(60))
                    .build())
            .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
            .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
            // One retry: a server that is down is told within seconds, and the callers retry
            // on their own schedule (the cold keeper's next pass, the next fetch source).
            .overrideConfiguration(
                o ->
                    o.retryStrategy(
                        AwsRetryStrategy.standardRetryStrategy().toBuilder()
                            .maxAttempts(2)
                            .build()))
            .build();
  }

  public Location location() {
    return location;
  }

  /** The object key of a blob. */
  public String key(Digest digest) {
    return location.prefix() + "blobs/sha256/" + digest.hex();
  }

  /** How {@link #describe()} begins, so callers can tell a bucket among sources. */
  public static final String DESCRIBED_AS = "bucket ";

  /** Names the bucket in messages: {@code bucket b at http://host:9000}. */
  public String describe() {
    return DESCRIBED_AS + location.bucket() + " at " + location.endpoint();
  }

  /**
   * Checks that the bucket exists and the credentials may read it.
   *
   * @throws BucketException {@link Reason#CREDENTIALS_INVALID}, {@link Reason#BUCKET_MISSING} or
   *     {@link Reason#UNREACHABLE}, with a message naming the endpoint and bucket
   */
  public void checkAccess() throws BucketException {
    try {
      s3.headBucket(b -> b.bucket(location.bucket()));
    } catch (SdkException e) {
      BucketException failure = failure("check", null, e);
      if (failure.reason() == Reason.NOT_FOUND) {
        // HEAD has no body, so no error code: a 404 on the bucket itself is a missing bucket.
        throw new BucketException(
            Reason.BUCKET_MISSING,
            describe()
                + ": the bucket does not exist (404); create it, or fix the cold tier's"
                + " bucket",
            e);
      }
      throw failure;
    }
  }

  /**
   * The size of the blob's object, or empty when the bucket has none.
   *
   * @throws BucketException when the bucket cannot say (credentials, missing bucket, server down)
   */
  public OptionalLong head(Digest digest) throws BucketException {
    String key = key(digest);
    try {
      return OptionalLong.of(
          s3.headObject(b -> b.bucket(location.bucket()).key(key)).contentLength());
    } catch (SdkException e) {
      BucketException failure = failure("head", key, e);
      if (failure.reason() != Reason.NOT_FOUND) {
        throw failure;
      }
    }
    checkAccess(); // a 404 without a body may mean the bucket itself is gone: say which
    return OptionalLong.empty();
  }

  /**
   * Reads the blob's object through and hashes it.
   *
   * @throws BucketException when it cannot be read (not for a missing or corrupt object: those are
   *     the check's answer)
   */
  public Check verify(Digest digest, Pacer pacer) throws IOException {
    String key = key(digest);
    MessageDigest sha = sha256();
    long size = 0;
    try (InputStream in = get(key)) {
      byte[] buf = new byte[CHUNK];
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        pacer.read(n);
        sha.update(buf, 0, n);
        size += n;
      }
    } catch (BucketException e) {
      if (e.reason() == Reason.NOT_FOUND) {
        return new Check(State.MISSING, -1, false, e.getMessage());
      }
      throw e;
    }
    Digest actual = new Digest(HexFormat.of().formatHex(sha.digest()));
    if (!actual.equals(digest)) {
      return new Check(
          State.CORRUPT,
          size,
          false,
          "object %s in %s is corrupt: its %d bytes hash to %s"
              .formatted(key, describe(), size, actual));
    }
    return new Check(
        State.CONFIRMED,
        size,
        false,
        "object %s in %s verified (%d bytes)".formatted(key, describe(), size));
  }

  /**
   * Makes sure the bucket holds a good copy of the blob in {@code file}: when it has none, or a
   * corrupt one, writes it, then reads it back. The file is hashed first, so a node copy that
   * rotted is never written.
   *
   * @return CONFIRMED (written or not), or CORRUPT when what was written does not read back right
   * @throws DigestMismatchOnNode when the file itself does not hash to the digest
   * @throws BucketException when the bucket cannot be read or written
   */
  public Check store(Digest digest, Path file, Pacer pacer) throws IOException {
    Check before = verify(digest, pacer);
    if (before.state() == State.CONFIRMED) {
      return before;
    }
    Digest local = hashFile(file, pacer);
    if (!local.equals(digest)) {
      throw new DigestMismatchOnNode(
          "the node's copy of " + digest + " at " + file + " hashes to " + local + "; not written");
    }
    String key = key(digest);
    try {
      s3.putObject(
          b -> b.bucket(location.bucket()).key(key).contentType("application/octet-stream"),
          RequestBody.fromFile(file));
    } catch (SdkException e) {
      throw failure("put", key, e);
    }
    Check after = verify(digest, pacer);
    String was = before.state() == State.MISSING ? "missing" : "corrupt";
    return switch (after.state()) {
      case CONFIRMED ->
          new Check(
              State.CONFIRMED,
              after.size(),
              true,
              "object %s in %s was %s; written from the node's copy and verified (%d bytes)"
                  .formatted(key, describe(), was, after.size()));
      case MISSING ->
          new Check(
              State.MISSING,
              -1,
              true,
              "object %s in %s is missing right after it was written".formatted(key, describe()));
      case CORRUPT ->
          new Check(
              State.CORRUPT, after.size(), true, after.message() + " right after it was written");
    };
  }

  /** Thrown by {@link #store} when the node's own copy is not the blob it claims to be. */
  public static final class DigestMismatchOnNode extends IOException {
    private static final long serialVersionUID = 1L;

    DigestMismatchOnNode(String message) {
      super(message);
    }
  }

  /**
   * Opens the blob's object; the stream hashes what it reads and, at its end, throws a {@link
   * BucketException} ({@link Reason#CORRUPT}) when the bytes do not match the digest.
   *
   * @throws BucketException {@link Reason#NOT_FOUND} when the bucket has no such object, or why it
   *     could not be read
   */
  public InputStream open(Digest digest) throws IOException {
    String key = key(digest);
    return new VerifyingStream(get(key), digest, key);
  }

  private InputStream get(String key) throws BucketException {
    try {
      ResponseInputStream<GetObjectResponse> body =
          s3.getObject(b -> b.bucket(location.bucket()).key(key));
      return new FilterInputStream(body) {
        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          try {
            return super.read(b, off, len);
          } catch (IOException | SdkException e) {
            throw new BucketException(
                Reason.UNREACHABLE,
                "reading object " + key + " from " + describe() + " broke off: " + e.getMessage(),
                e);
          }
        }

        @Override
        public void close() throws IOException {
          // Abort rather than drain what a caller stops reading (a corrupt or unwanted blob).
          body.abort();
          super.close();
        }
      };
    } catch (SdkException e) {
      throw failure("get", key, e);
    }
  }

  private final class VerifyingStream extends FilterInputStream {
    private final MessageDigest sha = sha256();
    private final Digest expected;
    private final String key;
    private long size;
    private boolean checked;

    VerifyingStream(InputStream in, Digest expected, String key) {
      super(in);
      this.expected = expected;
      this.key = key;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        sha.update(b, off, n);
        size += n;
      } else if (n < 0 && !checked) {
        checked = true;
        Digest actual = new Digest(HexFormat.of().formatHex(sha.digest()));
        if (!actual.equals(expected)) {
          throw new BucketException(
              Reason.CORRUPT,
              "object %s in %s is corrupt: its %d bytes hash to %s"
                  .formatted(key, describe(), size, actual));
        }
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      // Every byte must be hashed.
      byte[] buf = new byte[(int) Math.min(n, CHUNK)];
      int read = read(buf, 0, buf.length);
      return Math.max(read, 0);
    }

    @Override
    public boolean markSupported() {
      return false;
    }
  }

  /** Maps the SDK's exception to one whose message says what to fix, naming endpoint and key. */
  BucketException failure(String action, String key, SdkException e) {
    String what = key == null ? describe() : "object " + key + " in " + describe();
    if (e instanceof S3Exception s) {
      int status = s.statusCode();
      String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
      String said = code == null ? String.valueOf(status) : status + " " + code;
      if (status == 403
          || "InvalidAccessKeyId".equals(code)
          || "SignatureDoesNotMatch".equals(code)
          || "AccessDenied".equals(code)) {
        return new BucketException(
            Reason.CREDENTIALS_INVALID,
            "%s refused the credentials (%s) on %s: check the access key and secret in the cold"
                    .formatted(what, said, action)
                + " tier's Secret",
            e);
      }
      if ("NoSuchBucket".equals(code)) {
        return new BucketException(
            Reason.BUCKET_MISSING,
            describe()
                + ": the bucket does not exist ("
                + said
                + "); create it, or fix the cold"
                + " tier's bucket",
            e);
      }
      if (status == 404) {
        return new BucketException(Reason.NOT_FOUND, what + ": no such object (" + said + ")", e);
      }
      if (status >= 500) {
        return new BucketException(
            Reason.UNREACHABLE, what + ": the server failed the " + action + " (" + said + ")", e);
      }
      return new BucketException(
          Reason.OTHER, what + ": " + action + " refused (" + said + "): " + s.getMessage(), e);
    }
    if (e instanceof SdkClientException) {
      return new BucketException(
          Reason.UNREACHABLE,
          "could not reach "
              + location.endpoint()
              + " for "
              + what
              + " ("
              + action
              + "): "
              + rootMessage(e),
          e);
    }
    return new BucketException(
        Reason.OTHER, what + ": " + action + " failed: " + e.getMessage(), e);
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t == e
        ? String.valueOf(e.getMessage())
        : t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  private static Digest hashFile(Path file, Pacer pacer) throws IOException {
    MessageDigest sha = sha256();
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[CHUNK];
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        pacer.read(n);
        sha.update(buf, 0, n);
      }
    }
    return new Digest(HexFormat.of().formatHex(sha.digest()));
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    s3.close();
  }
}
