package io.layerns.csi.export.sftp;

import io.layerns.csi.identity.NodeKey;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PublicKey;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.sshd.common.AttributeRepository;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.apache.sshd.common.file.virtualfs.VirtualFileSystemFactory;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.apache.sshd.core.CoreModuleProperties;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.server.forward.RejectAllForwardingFilter;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's read-only SFTP export of its layer directories, for peers that use the Sshfs
 * transport: an embedded SSH server that offers nothing but SFTP.
 *
 * <p>Clients see the store's {@code layers/} folder as {@code /}, so a layer is at {@code
 * /sha256/<hex>/diff}. Only public-key authentication with a member node's own key ({@link
 * #allowKeys}) is accepted; shell, exec, port, X11 and agent forwarding are refused; every write is
 * refused (see {@link ReadOnlyLayerAccessor}, which also keeps the server from following symlinks).
 */
public final class SftpExportServer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(SftpExportServer.class);

  /**
   * AES only, GCM first: the JVM runs it on the CPU's AES instructions. MINA's default list also
   * has chacha20-poly1305, which OpenSSH clients (sshfs) prefer and which MINA computes in plain
   * Java: over loopback it read a large file at about half the speed (SftpReadBenchmark).
   */
  static final List<NamedFactory<Cipher>> CIPHERS =
      List.of(
          BuiltinCiphers.aes128gcm,
          BuiltinCiphers.aes256gcm,
          BuiltinCiphers.aes128ctr,
          BuiltinCiphers.aes256ctr);

  /** For the CTR ciphers (GCM authenticates by itself): SHA-2, encrypt-then-MAC only. */
  static final List<NamedFactory<Mac>> MACS =
      List.of(BuiltinMacs.hmacsha256etm, BuiltinMacs.hmacsha512etm);

  /** The key a session logged in with, in OpenSSH form. */
  private static final AttributeRepository.AttributeKey<String> LOGIN_KEY =
      new AttributeRepository.AttributeKey<>();

  private final SshServer sshd;
  private final KeyPair hostKey;
  private volatile Optional<Set<InetAddress>> allowedClients;
  private volatile Set<String> allowedKeys;
  private volatile io.layerns.csi.metrics.NodeMetrics metrics =
      io.layerns.csi.metrics.NodeMetrics.NONE;

  private SftpExportServer(
      SshServer sshd,
      KeyPair hostKey,
      Optional<Set<InetAddress>> allowed,
      Set<PublicKey> clientKeys) {
    this.sshd = sshd;
    this.hostKey = hostKey;
    this.allowedClients = allowed;
    this.allowedKeys = openSsh(clientKeys);
  }

  /**
   * Starts serving {@code layersRoot} (the store's {@code layers/} folder) as configured.
   *
   * @throws IOException when the host key cannot be read or made, or the address cannot be bound
   */
  public static SftpExportServer start(Path layersRoot, SftpExportConfig config)
      throws IOException {
    return start(layersRoot, config, sshd -> {});
  }

  /**
   * As {@link #start(Path, SftpExportConfig)}, with {@code adjust} applied to the server after the
   * export's own settings and before it starts: for benchmarks that compare settings.
   */
  public static SftpExportServer start(
      Path layersRoot, SftpExportConfig config, Consumer<SshServer> adjust) throws IOException {
    Path root = layersRoot.toRealPath();
    SshServer sshd = SshServer.setUpDefaultServer();
    sshd.setHost(config.bindAddress());
    sshd.setPort(config.port());
    // SFTP is request and reply: with Nagle's algorithm a reply written in parts waits for the
    // client's delayed ACK (40 ms on Linux) on every read; sshfs then read 10 MiB in 12 s.
    CoreModuleProperties.TCP_NODELAY.set(sshd, true);
    sshd.setCipherFactories(CIPHERS);
    sshd.setMacFactories(MACS);

    // The node's own key: peers pin it as this node's host key, so it must survive a restart (a
    // new one would make every sshfs mount of this node refuse to reconnect).
    KeyPair hostKey = NodeKey.loadOrCreate(config.hostKeyFile()).keyPair();
    sshd.setKeyPairProvider(KeyPairProvider.wrap(hostKey));

    // Public keys only: no password, keyboard-interactive, GSS or host-based logins.
    sshd.setUserAuthFactories(List.of(UserAuthPublicKeyFactory.INSTANCE));
    sshd.setPasswordAuthenticator(null);
    sshd.setKeyboardInteractiveAuthenticator(null);
    sshd.setGSSAuthenticator(null);
    sshd.setHostBasedAuthenticator(null);
    SftpExportServer server =
        new SftpExportServer(sshd, hostKey, config.allowedClients(), config.clientKeys());
    String user = config.user();
    sshd.setPublickeyAuthenticator(
        (username, key, session) -> {
          String offered = PublicKeyEntry.toString(key);
          // Remembered before the check, so that allowKeys either sees this session or this check
          // sees allowKeys' new set: a key dropped meanwhile leaves no session behind.
          session.setAttribute(LOGIN_KEY, offered);
          if (!user.equals(username) || !server.allowedKeys.contains(offered)) {
            session.removeAttribute(LOGIN_KEY);
            server.metrics.refused(io.layerns.csi.metrics.NodeMetrics.Refusal.NON_MEMBER);
            LOG.warn(
                "SFTP export: refused key {} from {}, not a member node's",
                KeyUtils.getFingerPrint(key),
                session.getRemoteAddress());
            return false;
          }
          return true;
        });

    // SFTP only: no shell, no exec, no forwarding of any kind.
    sshd.setShellFactory(null);
    sshd.setCommandFactory(null);
    sshd.setForwardingFilter(RejectAllForwardingFilter.INSTANCE);
    sshd.setAgentFactory(null);
    sshd.setFileSystemFactory(new VirtualFileSystemFactory(root));
    SftpSubsystemFactory.Builder sftp =
        new SftpSubsystemFactory.Builder().withFileSystemAccessor(new ReadOnlyLayerAccessor(root));
    sftp.addSftpEventListener(
        new org.apache.sshd.sftp.server.SftpEventListener() {
          @Override
          public void read(
              org.apache.sshd.server.session.ServerSession session,
              String remoteHandle,
              org.apache.sshd.sftp.server.FileHandle localHandle,
              long offset,
              byte[] data,
              int dataOffset,
              int dataLen,
              int readLen,
              Throwable thrown) {
            server.metrics.served(io.layerns.csi.metrics.NodeMetrics.Export.SFTP, readLen);
          }
        });
    sshd.setSubsystemFactories(List.of(sftp.build()));

    // Filtered per session rather than in IoServiceEventListener.connectionAccepted: MINA 2.16
    // does not close the socket when that listener refuses, and the client hangs.
    sshd.addSessionListener(server.new ClientFilter());
    adjust.accept(sshd);
    sshd.start();
    LOG.info(
        "SFTP export of {} listening on {}:{} (clients: {})",
        root,
        config.bindAddress(),
        sshd.getPort(),
        config.allowedClients().map(Object::toString).orElse("any"));
    return server;
  }

  /** Where bytes served and refused clients are counted. */
  public void recordTo(io.layerns.csi.metrics.NodeMetrics metrics) {
    this.metrics = metrics;
  }

  /** The address and port the server listens on. */
  public InetSocketAddress address() {
    return new InetSocketAddress(sshd.getHost(), sshd.getPort());
  }

  /**
   * The host public key in OpenSSH form ({@code ecdsa-sha2-nistp256 AAAA...}), for peers' {@code
   * known_hosts}.
   */
  public String hostPublicKey() {
    return PublicKeyEntry.toString(hostKey.getPublic());
  }

  /** The host key's public half: this node's own key. */
  public PublicKey hostKey() {
    return hostKey.getPublic();
  }

  /**
   * Replaces the addresses that may connect (membership changed); empty allows any address.
   * Sessions already open are kept.
   */
  public void allowClients(Optional<Set<InetAddress>> clients) {
    this.allowedClients = clients.map(Set::copyOf);
  }

  /**
   * Replaces the public keys that may log in (the member nodes' own keys, as membership changes).
   * Sessions that logged in with a key no longer in the set are closed: a node that left the
   * namespace keeps no way in.
   */
  public void allowKeys(Set<PublicKey> keys) {
    Set<String> next = openSsh(keys);
    this.allowedKeys = next;
    for (Session session : sshd.getActiveSessions()) {
      String key = session.getAttribute(LOGIN_KEY);
      if (key != null && !next.contains(key)) {
        LOG.warn(
            "SFTP export: closing the session of {}: its key is no member's any more",
            session.getRemoteAddress());
        session.close(true);
      }
    }
  }

  private static Set<String> openSsh(Set<PublicKey> keys) {
    return keys.stream()
        .map(PublicKeyEntry::toString)
        .collect(java.util.stream.Collectors.toUnmodifiableSet());
  }

  @Override
  public void close() throws IOException {
    sshd.stop(true);
  }

  /** Closes a session from an address that is not a member before it can authenticate. */
  private final class ClientFilter implements SessionListener {
    @Override
    public void sessionCreated(Session session) {
      Optional<Set<InetAddress>> allowed = allowedClients;
      if (allowed.isEmpty()) {
        return;
      }
      SocketAddress remote = session.getIoSession().getRemoteAddress();
      InetAddress from = remote instanceof InetSocketAddress i ? i.getAddress() : null;
      if (from == null || !allowed.get().contains(from)) {
        LOG.warn("SFTP export: refused a connection from {}, not a member node", remote);
        metrics.refused(io.layerns.csi.metrics.NodeMetrics.Refusal.NON_MEMBER);
        session.close(true);
      }
    }
  }
}
