package io.layerns.operator.credentials;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.io.TempDir;

/** The issued key pair is one OpenSSH reads: ssh-keygen derives the same public key from it. */
class SftpKeyIssuerTest {

  // Repeated: the coordinate encoding differs when a coordinate has a leading zero or sign byte.
  @RepeatedTest(8)
  void opensshDerivesTheIssuedPublicKeyFromTheIssuedPrivateKey(@TempDir Path dir) throws Exception {
    Map<String, String> files = SftpKeyIssuer.newKeyFiles("test");
    Path key = dir.resolve("id_ecdsa");
    Files.writeString(key, files.get("id_ecdsa"));
    Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));

    Process p =
        new ProcessBuilder("ssh-keygen", "-y", "-f", key.toString())
            .redirectErrorStream(true)
            .start();
    String derived = new String(p.getInputStream().readAllBytes()).trim();
    assertThat(p.waitFor()).as(derived).isZero();

    assertThat(files.get("id_ecdsa.pub")).startsWith(derived + " ");
    assertThat(files.get("authorized_keys")).isEqualTo(files.get("id_ecdsa.pub"));
  }
}
