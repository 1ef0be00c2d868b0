package io.layerns.csi.identity;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;

/**
 * A self-signed X.509 certificate of the node's own key pair ({@link NodeKey}), which its HTTP
 * export presents and which it presents to peers' exports. Peers trust the key in it because the
 * node published that key in its own LayerStore status, not because of who signed it: the name and
 * the validity are placeholders, and nothing but the key is checked.
 *
 * <p>Written in DER here (a version 1 certificate has six fields) rather than with a certificate
 * library: MINA SSHD registers BouncyCastle as a security provider whenever it finds it on the
 * classpath, which would change what the SFTP export's cryptography runs on.
 */
public final class NodeCertificate {

  private static final String NAME = "layerns node";

  private NodeCertificate() {}

  /**
   * A certificate of {@code pair}'s public key, signed with its private key.
   *
   * @throws IllegalArgumentException when the key is neither EC nor RSA
   */
  public static X509Certificate selfSigned(KeyPair pair) {
    String algorithm = pair.getPublic().getAlgorithm();
    byte[] signatureAlgorithm;
    String jcaAlgorithm;
    switch (algorithm) {
      case "EC" -> {
        // ecdsa-with-SHA256, 1.2.840.10045.4.3.2, no parameters
        signatureAlgorithm = sequence(oid(0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02));
        jcaAlgorithm = "SHA256withECDSA";
      }
      case "RSA" -> {
        // sha256WithRSAEncryption, 1.2.840.113549.1.1.11, NULL parameters
        signatureAlgorithm =
            sequence(
                oid(0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B), new byte[] {0x05, 0x00});
        jcaAlgorithm = "SHA256withRSA";
      }
      default ->
          throw new IllegalArgumentException(
              "a node certificate needs an EC or RSA key, not " + algorithm);
    }
    // Common name 2.5.4.3 as a UTF8String.
    byte[] name =
        sequence(
            tagged(
                0x31,
                sequence(
                    oid(0x55, 0x04, 0x03), tagged(0x0C, NAME.getBytes(StandardCharsets.UTF_8)))));
    Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    byte[] validity =
        sequence(
            // A day back, for clocks that differ; no end (RFC 5280's 99991231235959Z).
            tagged(0x17, utcTime(now.minus(1, ChronoUnit.DAYS))),
            tagged(0x18, "99991231235959Z".getBytes(StandardCharsets.US_ASCII)));
    byte[] serial =
        tagged(0x02, new BigInteger(127, new SecureRandom()).add(BigInteger.ONE).toByteArray());
    byte[] tbs =
        sequence(serial, signatureAlgorithm, name, validity, name, pair.getPublic().getEncoded());
    try {
      Signature signer = Signature.getInstance(jcaAlgorithm);
      signer.initSign(pair.getPrivate());
      signer.update(tbs);
      byte[] signature = signer.sign();
      byte[] bits = new byte[signature.length + 1]; // no unused bits
      System.arraycopy(signature, 0, bits, 1, signature.length);
      byte[] der = sequence(tbs, signatureAlgorithm, tagged(0x03, bits));
      return (X509Certificate)
          CertificateFactory.getInstance("X.509")
              .generateCertificate(new ByteArrayInputStream(der));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot make the node certificate: " + e, e);
    }
  }

  private static byte[] utcTime(Instant t) {
    return DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'")
        .withZone(ZoneOffset.UTC)
        .format(t)
        .getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] oid(int... encoded) {
    byte[] b = new byte[encoded.length];
    for (int i = 0; i < encoded.length; i++) {
      b[i] = (byte) encoded[i];
    }
    return tagged(0x06, b);
  }

  private static byte[] sequence(byte[]... parts) {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      body.writeBytes(p);
    }
    return tagged(0x30, body.toByteArray());
  }

  /** A DER value: tag, definite length, contents. */
  private static byte[] tagged(int tag, byte[] contents) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(tag);
    int n = contents.length;
    if (n < 0x80) {
      out.write(n);
    } else {
      int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
      out.write(0x80 | bytes);
      for (int i = bytes - 1; i >= 0; i--) {
        out.write(n >>> (8 * i));
      }
    }
    out.writeBytes(contents);
    return out.toByteArray();
  }
}
