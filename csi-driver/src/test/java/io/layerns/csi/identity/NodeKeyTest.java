package io.layerns.csi.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.export.Cmd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The node's own key pair: made once, kept private, readable by ssh, published as one line. */
class NodeKeyTest {

  @TempDir Path tmp;

  @Test
  void isMadeOnceInAFolderThatDidNotExistAndKeptAcrossStarts() throws Exception {
    Path file = tmp.resolve("fresh/state/" + NodeKey.FILE_NAME);

    NodeKey first = NodeKey.loadOrCreate(file);
    NodeKey again = NodeKey.loadOrCreate(file);

    assertThat(again.publicKeyLine()).isEqualTo(first.publicKeyLine());
    assertThat(first.publicKeyLine()).startsWith("ecdsa-sha2-nistp256 AAAA");
  }

  @Test
  void onlyItsOwnerMayReadIt() throws Exception {
    Path file = tmp.resolve(NodeKey.FILE_NAME);
    NodeKey.loadOrCreate(file);
    // A key file left readable by others (an older version, a copy) is tightened at start.
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));

    NodeKey.loadOrCreate(file);

    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-------");
  }

  @Test
  void sshReadsThePrivateKeyAndDerivesThePublishedLine() throws Exception {
    NodeKey key = NodeKey.loadOrCreate(tmp.resolve(NodeKey.FILE_NAME));

    Cmd derived = Cmd.ok("ssh-keygen", "-y", "-f", key.file().toString());

    assertThat(derived.output().strip()).startsWith(key.publicKeyLine());
    assertThat(NodeKey.parsePublicKey(derived.output())).isEqualTo(key.keyPair().getPublic());
  }

  @Test
  void aPublishedLineThatIsNoKeyIsRefusedByName() {
    assertThatThrownBy(() -> NodeKey.parsePublicKey("ssh-rsa not-base64!"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not an OpenSSH public key");
    assertThatThrownBy(() -> NodeKey.parsePublicKey(""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not an OpenSSH public key");
  }
}
