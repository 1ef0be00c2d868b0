package io.layerns.csi.identity;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.util.Objects;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;

/**
 * This node's own key pair, which peers know it by: made on the first start and kept in the
 * plugin's state folder (mode 0600, OpenSSH format), its public half published in the node's own
 * LayerStore status (which only this node may write). It is the SFTP export's host key and the HTTP
 * export's TLS key ({@link NodeTls}), which peers pin, and the key this node logs in to peers' SFTP
 * exports and connects to their HTTP exports with; peers accept it while this node is a member of
 * their namespace.
 */
public final class NodeKey {

  /** The file name in the state folder (the name of the SFTP host key before it had two uses). */
  public static final String FILE_NAME = "ssh_host_ecdsa_key";

  private final Path file;
  private final KeyPair pair;

  private NodeKey(Path file, KeyPair pair) {
    this.file = file;
    this.pair = pair;
  }

  /**
   * Loads the key in {@code file}, or makes an ECDSA P-256 pair there when there is none.
   *
   * @throws IOException when the file cannot be read, is not a key, or cannot be written
   */
  public static NodeKey loadOrCreate(Path file) throws IOException {
    Path abs = file.toAbsolutePath().normalize();
    // MINA only logs a key it could not write, so make its folder first.
    Files.createDirectories(abs.getParent());
    SimpleGeneratorHostKeyProvider provider = new SimpleGeneratorHostKeyProvider(abs);
    provider.setAlgorithm(KeyUtils.EC_ALGORITHM);
    provider.setKeySize(256);
    KeyPair pair;
    try {
      pair = provider.loadKeys(null).iterator().next();
    } catch (RuntimeException e) {
      throw new IOException("could not read or make the node key " + abs + ": " + e, e);
    }
    if (!Files.isRegularFile(abs)) {
      throw new IOException("the node key " + abs + " could not be written");
    }
    // ssh refuses a private key others can read, and nobody but the plugin needs it.
    Files.setPosixFilePermissions(abs, PosixFilePermissions.fromString("rw-------"));
    return new NodeKey(abs, pair);
  }

  /**
   * Reads the key another process made in {@code file} (a node plugin's, say), making none.
   *
   * @throws IOException when there is no key there yet, or it is not one
   */
  public static NodeKey read(Path file) throws IOException {
    Path abs = file.toAbsolutePath().normalize();
    try (var in = Files.newInputStream(abs)) {
      var pairs =
          org.apache.sshd.common.util.security.SecurityUtils.loadKeyPairIdentities(
              null,
              org.apache.sshd.common.NamedResource.ofName(abs.toString()),
              in,
              org.apache.sshd.common.config.keys.FilePasswordProvider.EMPTY);
      if (pairs == null || !pairs.iterator().hasNext()) {
        throw new IOException("no key in " + abs);
      }
      return new NodeKey(abs, pairs.iterator().next());
    } catch (GeneralSecurityException e) {
      throw new IOException("not a key: " + abs + ": " + e.getMessage(), e);
    }
  }

  /** The private key's file, for ssh's {@code IdentityFile}. */
  public Path file() {
    return file;
  }

  public KeyPair keyPair() {
    return pair;
  }

  /** The public key in OpenSSH form ({@code ecdsa-sha2-nistp256 AAAA...}), as it is published. */
  public String publicKeyLine() {
    return PublicKeyEntry.toString(pair.getPublic());
  }

  /**
   * A public key in OpenSSH form ({@code type base64 [comment]}), as peers publish theirs.
   *
   * @throws IllegalArgumentException naming the problem when it is not one
   */
  public static PublicKey parsePublicKey(String line) {
    Objects.requireNonNull(line, "line");
    PublicKey key;
    try {
      PublicKeyEntry entry = PublicKeyEntry.parsePublicKeyEntry(line.strip());
      key = entry == null ? null : entry.resolvePublicKey(null, null, null);
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      throw new IllegalArgumentException("not an OpenSSH public key: " + e.getMessage(), e);
    }
    if (key == null) {
      throw new IllegalArgumentException("not an OpenSSH public key of a known type: " + line);
    }
    return key;
  }
}
