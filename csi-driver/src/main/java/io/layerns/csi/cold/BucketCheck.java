package io.layerns.csi.cold;

import java.net.URI;

/**
 * Checks a cold tier bucket from the command line, as the node plugin would: {@code java -cp
 * '/app/lib/*' io.layerns.csi.cold.BucketCheck <endpoint> <bucket>} with the keys in {@code
 * LAYERNS_COLD_ACCESS_KEY_ID} and {@code LAYERNS_COLD_SECRET_ACCESS_KEY}. Prints {@code ok: ...}
 * and exits 0 when the bucket answers to the keys, else prints the reason (CredentialsInvalid,
 * BucketMissing, Unreachable) and the message, and exits 1. The image check runs it too.
 */
public final class BucketCheck {
  private BucketCheck() {}

  public static void main(String[] args) {
    if (args.length != 2) {
      System.err.println("usage: BucketCheck <endpoint> <bucket>");
      System.exit(2);
    }
    Bucket.Location location =
        new Bucket.Location(URI.create(args[0]), args[1], "", "us-east-1", true);
    Bucket.Credentials credentials =
        new Bucket.Credentials(
            System.getenv().getOrDefault("LAYERNS_COLD_ACCESS_KEY_ID", "none"),
            System.getenv().getOrDefault("LAYERNS_COLD_SECRET_ACCESS_KEY", "none"));
    try (Bucket bucket = new Bucket(location, credentials)) {
      bucket.checkAccess();
      System.out.println("ok: " + bucket.describe() + " answers to the keys");
    } catch (BucketException e) {
      System.out.println(e.reason().condition() + ": " + e.getMessage());
      System.exit(1);
    }
  }
}
