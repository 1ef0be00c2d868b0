package io.layerns.operator.credentials;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issues the cluster's SFTP key pair once, as the Secret the node plugins mount: their exports
 * accept only this key, and they mount each other's exports with it. An existing Secret is kept, so
 * the key survives operator restarts and upgrades.
 */
public final class SftpKeyIssuer {
  public static final String SECRET_NAME = "layerns-sftp-key";
  private static final Logger LOG = LoggerFactory.getLogger(SftpKeyIssuer.class);

  private SftpKeyIssuer() {}

  /** Creates the Secret in {@code namespace} unless it exists; returns the Secret in force. */
  public static Secret ensure(KubernetesClient client, String namespace) {
    Secret existing = client.secrets().inNamespace(namespace).withName(SECRET_NAME).get();
    if (existing != null) {
      return existing;
    }
    Map<String, String> files = newKeyFiles("layerns-cluster");
    Secret secret =
        new SecretBuilder()
            .withNewMetadata()
            .withName(SECRET_NAME)
            .withNamespace(namespace)
            .addToLabels("app.kubernetes.io/part-of", "layerns")
            .endMetadata()
            .withType("Opaque")
            .withStringData(files)
            .build();
    try {
      Secret created = client.resource(secret).create();
      LOG.info("issued the cluster SFTP key in Secret {}/{}", namespace, SECRET_NAME);
      return created;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) { // another operator replica issued it first: use theirs
        return client.secrets().inNamespace(namespace).withName(SECRET_NAME).get();
      }
      throw e;
    }
  }

  /** A new ECDSA P-256 key pair as OpenSSH reads them: private key, public key, authorized_keys. */
  public static Map<String, String> newKeyFiles(String comment) {
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
      generator.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair pair = generator.generateKeyPair();
      String publicLine = openSshPublicKey((ECPublicKey) pair.getPublic()) + " " + comment + "\n";
      return Map.of(
          "id_ecdsa", pem(pair.getPrivate().getEncoded()),
          "id_ecdsa.pub", publicLine,
          "authorized_keys", publicLine);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("EC P-256 is not available in this JVM", e);
    }
  }

  // RFC 5656: string "ecdsa-sha2-nistp256", string "nistp256", string Q (uncompressed point).
  static String openSshPublicKey(ECPublicKey key) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(bytes);
      writeString(out, "ecdsa-sha2-nistp256".getBytes(StandardCharsets.US_ASCII));
      writeString(out, "nistp256".getBytes(StandardCharsets.US_ASCII));
      byte[] point = new byte[65];
      point[0] = 0x04;
      copyFixed(key.getW().getAffineX(), point, 1);
      copyFixed(key.getW().getAffineY(), point, 33);
      writeString(out, point);
      return "ecdsa-sha2-nistp256 " + Base64.getEncoder().encodeToString(bytes.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void writeString(DataOutputStream out, byte[] value) throws IOException {
    out.writeInt(value.length);
    out.write(value);
  }

  /** A coordinate as exactly 32 big-endian bytes (BigInteger may add a sign byte or drop zeros). */
  private static void copyFixed(BigInteger value, byte[] into, int offset) {
    byte[] raw = value.toByteArray();
    int skip = raw.length > 32 ? raw.length - 32 : 0;
    int pad = 32 - (raw.length - skip);
    System.arraycopy(raw, skip, into, offset + pad, raw.length - skip);
  }

  private static String pem(byte[] pkcs8) {
    String body =
        Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(pkcs8);
    return "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n";
  }
}
