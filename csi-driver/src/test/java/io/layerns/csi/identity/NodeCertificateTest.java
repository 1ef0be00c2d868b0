package io.layerns.csi.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.transport.TestNodeKeys;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class NodeCertificateTest {

  @Test
  void holdsTheNodesOwnKeyAndIsSignedWithIt() throws Exception {
    KeyPair pair = TestNodeKeys.generate();

    X509Certificate cert = NodeCertificate.selfSigned(pair);

    assertThat(NodeTls.sameKey(cert.getPublicKey(), pair.getPublic())).isTrue();
    cert.verify(pair.getPublic()); // throws when the signature is not the key's
    cert.checkValidity();
    assertThat(cert.getNotAfter().toInstant()).isAfter(Instant.parse("9999-12-31T00:00:00Z"));
    assertThat(cert.getSubjectX500Principal()).isEqualTo(cert.getIssuerX500Principal());
  }

  @Test
  void aKeyLoadedFromTheNodeKeyFileMakesACertificateToo(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    NodeKey key = NodeKey.loadOrCreate(dir.resolve(NodeKey.FILE_NAME));

    X509Certificate cert = NodeCertificate.selfSigned(key.keyPair());

    cert.verify(key.keyPair().getPublic());
    assertThat(NodeTls.sameKey(cert.getPublicKey(), key.keyPair().getPublic())).isTrue();
  }

  @Test
  void anRsaKeyMakesOneAndAnEdwardsKeyIsRefusedByName() throws Exception {
    KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
    rsa.initialize(2048);
    KeyPair pair = rsa.generateKeyPair();
    NodeCertificate.selfSigned(pair).verify(pair.getPublic());

    KeyPair ed = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    assertThatThrownBy(() -> NodeCertificate.selfSigned(ed))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("EC or RSA");
  }
}
