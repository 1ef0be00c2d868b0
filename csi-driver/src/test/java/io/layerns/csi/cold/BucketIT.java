package io.layerns.csi.cold;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.cold.Bucket.Check;
import io.layerns.csi.cold.Bucket.Credentials;
import io.layerns.csi.cold.Bucket.Location;
import io.layerns.csi.cold.Bucket.State;
import io.layerns.csi.cold.BucketException.Reason;
import io.layerns.csi.store.Digest;
import io.layerns.testing.S3Server;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bucket against a real S3 server (s3proxy, its own process on loopback, AWS signatures
 * checked): write once and verify, read back verified, and each failure a clear error that names
 * endpoint, bucket and key, with nothing lost.
 */
class BucketIT {
  private static final String BUCKET = "layers";
  private static S3Server server;

  @TempDir Path tmp;

  @BeforeAll
  static void startServer() throws IOException {
    server = S3Server.start();
    server.createBucket(BUCKET);
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  private static Location location(String bucket) {
    return new Location(server.endpoint(), bucket, "layerns/", "us-east-1", true);
  }

  private static Bucket bucket() {
    return new Bucket(location(BUCKET), new Credentials(server.accessKey(), server.secretKey()));
  }

  /** A blob of {@code size} random bytes in a file, and its digest. */
  private record Blob(Path file, Digest digest, byte[] bytes) {}

  private Blob blob(int size, long seed) throws IOException {
    byte[] bytes = new byte[size];
    new Random(seed).nextBytes(bytes);
    Path file = tmp.resolve("blob-" + seed);
    Files.write(file, bytes);
    return new Blob(file, Digest.of(bytes), bytes);
  }

  @Test
  void writesOnceVerifiesAndReadsBack() throws IOException {
    Blob b = blob(3 * 1024 * 1024 + 17, 1);
    try (Bucket bucket = bucket()) {
      bucket.checkAccess();
      assertThat(bucket.head(b.digest())).isEmpty();
      assertThat(bucket.verify(b.digest(), Bucket.Pacer.NONE).state()).isEqualTo(State.MISSING);

      Check first = bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      assertThat(first.state()).isEqualTo(State.CONFIRMED);
      assertThat(first.written()).isTrue();
      assertThat(first.size()).isEqualTo(b.bytes().length);
      // Where the server keeps it: the key under the prefix, the OCI layout's blob path.
      assertThat(bucket.key(b.digest())).isEqualTo("layerns/blobs/sha256/" + b.digest().hex());
      assertThat(server.objectFile(BUCKET, bucket.key(b.digest()))).hasBinaryContent(b.bytes());

      Check again = bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      assertThat(again.state()).isEqualTo(State.CONFIRMED);
      assertThat(again.written()).as("a good copy is never written again").isFalse();

      assertThat(bucket.head(b.digest())).hasValue(b.bytes().length);
      try (InputStream in = bucket.open(b.digest())) {
        assertThat(in.readAllBytes()).isEqualTo(b.bytes());
      }
    }
  }

  @Test
  void aCorruptObjectIsFoundRefusedOnReadAndWrittenAgain() throws IOException {
    Blob b = blob(1024 * 1024, 2);
    try (Bucket bucket = bucket()) {
      bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      Path object = server.objectFile(BUCKET, bucket.key(b.digest()));
      byte[] rotten = Files.readAllBytes(object);
      rotten[rotten.length / 2] ^= 0x40;
      Files.write(object, rotten);

      Check found = bucket.verify(b.digest(), Bucket.Pacer.NONE);
      assertThat(found.state()).isEqualTo(State.CORRUPT);
      assertThat(found.message())
          .contains(bucket.key(b.digest()), BUCKET, server.endpoint().toString(), "corrupt");

      try (InputStream in = bucket.open(b.digest())) {
        assertThatThrownBy(in::readAllBytes)
            .isInstanceOfSatisfying(
                BucketException.class, e -> assertThat(e.reason()).isEqualTo(Reason.CORRUPT))
            .hasMessageContaining(bucket.key(b.digest()));
      }

      Check fixed = bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      assertThat(fixed.state()).isEqualTo(State.CONFIRMED);
      assertThat(fixed.written()).isTrue();
      assertThat(fixed.message()).contains("was corrupt");
      assertThat(object).hasBinaryContent(b.bytes());
    }
  }

  @Test
  void aDeletedObjectIsMissingAndWrittenAgain() throws IOException {
    Blob b = blob(200_000, 3);
    try (Bucket bucket = bucket()) {
      bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      Files.delete(server.objectFile(BUCKET, bucket.key(b.digest())));
      assertThat(bucket.verify(b.digest(), Bucket.Pacer.NONE).state()).isEqualTo(State.MISSING);
      assertThat(bucket.head(b.digest())).isEmpty();
      assertThatThrownBy(() -> bucket.open(b.digest()))
          .isInstanceOfSatisfying(
              BucketException.class, e -> assertThat(e.reason()).isEqualTo(Reason.NOT_FOUND));
      Check fixed = bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      assertThat(fixed.state()).isEqualTo(State.CONFIRMED);
      assertThat(fixed.message()).contains("was missing");
    }
  }

  @Test
  void aRottenNodeCopyIsNeverWritten() throws IOException {
    Blob b = blob(100_000, 4);
    byte[] rotten = b.bytes().clone();
    rotten[10] ^= 1;
    Files.write(b.file(), rotten);
    try (Bucket bucket = bucket()) {
      assertThatThrownBy(() -> bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE))
          .isInstanceOf(Bucket.DigestMismatchOnNode.class)
          .hasMessageContaining("not written");
      assertThat(bucket.head(b.digest())).isEmpty();
    }
  }

  @Test
  void wrongCredentialsAreToldAndLoseNothing() throws IOException {
    Blob b = blob(100_000, 5);
    try (Bucket good = bucket()) {
      good.store(b.digest(), b.file(), Bucket.Pacer.NONE);
    }
    Blob other = blob(1000, 6);
    for (Credentials wrong :
        new Credentials[] {
          new Credentials(server.accessKey(), "not-the-secret"),
          new Credentials("nobody", server.secretKey())
        }) {
      try (Bucket bucket = new Bucket(location(BUCKET), wrong)) {
        assertReason(bucket::checkAccess, Reason.CREDENTIALS_INVALID, "credentials");
        assertReason(() -> bucket.head(b.digest()), Reason.CREDENTIALS_INVALID, "credentials");
        assertReason(
            () -> bucket.verify(b.digest(), Bucket.Pacer.NONE),
            Reason.CREDENTIALS_INVALID,
            bucket.key(b.digest()));
        assertReason(
            () -> bucket.store(other.digest(), other.file(), Bucket.Pacer.NONE),
            Reason.CREDENTIALS_INVALID,
            "Secret");
      }
    }
    try (Bucket good = bucket()) {
      assertThat(good.verify(b.digest(), Bucket.Pacer.NONE).state()).isEqualTo(State.CONFIRMED);
      assertThat(good.head(other.digest())).isEmpty();
    }
  }

  @Test
  void aMissingBucketIsTold() throws IOException {
    Blob b = blob(1000, 7);
    try (Bucket bucket =
        new Bucket(
            location("no-such-bucket"), new Credentials(server.accessKey(), server.secretKey()))) {
      assertReason(bucket::checkAccess, Reason.BUCKET_MISSING, "no-such-bucket");
      assertReason(() -> bucket.head(b.digest()), Reason.BUCKET_MISSING, "no-such-bucket");
      assertReason(
          () -> bucket.verify(b.digest(), Bucket.Pacer.NONE),
          Reason.BUCKET_MISSING,
          "does not exist");
      assertReason(
          () -> bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE),
          Reason.BUCKET_MISSING,
          "no-such-bucket");
      assertReason(() -> bucket.open(b.digest()), Reason.BUCKET_MISSING, "no-such-bucket");
    }
  }

  @Test
  void aServerThatIsDownIsToldAndItsObjectsSurvive() throws IOException {
    Blob b = blob(500_000, 8);
    try (Bucket bucket = bucket()) {
      bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE);
      server.stop();
      try {
        long start = System.nanoTime();
        assertReason(bucket::checkAccess, Reason.UNREACHABLE, server.endpoint().toString());
        assertReason(
            () -> bucket.verify(b.digest(), Bucket.Pacer.NONE),
            Reason.UNREACHABLE,
            bucket.key(b.digest()));
        assertReason(
            () -> bucket.store(b.digest(), b.file(), Bucket.Pacer.NONE),
            Reason.UNREACHABLE,
            server.endpoint().toString());
        assertReason(() -> bucket.open(b.digest()), Reason.UNREACHABLE, BUCKET);
        assertThat((System.nanoTime() - start) / 1e9)
            .as("seconds to tell four times that the server is down")
            .isLessThan(30);
      } finally {
        server.resume();
      }
      Check back = bucket.verify(b.digest(), Bucket.Pacer.NONE);
      assertThat(back.state()).isEqualTo(State.CONFIRMED);
    }
  }

  @FunctionalInterface
  private interface Call {
    void run() throws IOException;
  }

  private static void assertReason(Call call, Reason reason, String named) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            BucketException.class, e -> assertThat(e.reason()).isEqualTo(reason))
        .hasMessageContaining(named)
        .hasMessageContaining(BUCKET.equals(named) ? BUCKET : server.endpoint().toString());
  }
}
