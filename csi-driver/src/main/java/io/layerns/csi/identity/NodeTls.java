package io.layerns.csi.identity;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Optional;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.apache.sshd.common.config.keys.KeyUtils;

/**
 * TLS between member nodes, with each node's own key ({@link NodeKey}) in a self-signed {@link
 * NodeCertificate} on both sides: a node connects to a peer's HTTP export only when the key the
 * export presents is the one the member at that address published ({@link PeerKeys}), whatever
 * signed it, and presents its own; the export then serves members' keys only. No certificate
 * authority is involved: the LayerStore statuses, which only each node can write for itself, are
 * where keys are vouched for.
 */
public final class NodeTls {

  /** The only protocol spoken: both ends are layerns. */
  public static final String PROTOCOL = "TLSv1.3";

  private NodeTls() {}

  /**
   * The context of a node's HTTP export: it presents {@code own}, and asks each client for its
   * certificate, which it accepts whoever signed it (the export checks the key against its members
   * on every request, so that a node that leaves is refused on a connection it already holds).
   */
  public static SSLContext server(KeyPair own) {
    return context(Optional.of(own), new AnyClient());
  }

  /**
   * The context a node connects to peers' exports with: it presents {@code own} (none: it proves no
   * identity, as a non-member would) and accepts a peer only with the key {@code peers} says that
   * member published.
   */
  public static SSLContext client(Optional<KeyPair> own, PeerKeys peers) {
    return context(own, new PinnedPeers(peers));
  }

  /** The key of the certificate the client presented, or empty when it presented none. */
  public static Optional<PublicKey> clientKey(SSLSession session) {
    try {
      var chain = session.getPeerCertificates();
      return chain.length == 0 ? Optional.empty() : Optional.of(chain[0].getPublicKey());
    } catch (SSLPeerUnverifiedException e) {
      return Optional.empty();
    }
  }

  /** A key as people compare them: its type and SHA-256 fingerprint, as {@code ssh-keygen -l}. */
  public static String describe(PublicKey key) {
    return KeyUtils.getKeyType(key) + " " + KeyUtils.getFingerPrint(key);
  }

  /** Whether two keys are the same key, whichever provider made each object. */
  public static boolean sameKey(PublicKey a, PublicKey b) {
    return Arrays.equals(a.getEncoded(), b.getEncoded());
  }

  private static SSLContext context(Optional<KeyPair> own, TrustManager trust) {
    try {
      SSLContext context = SSLContext.getInstance(PROTOCOL);
      KeyManager[] keys =
          own.map(pair -> new KeyManager[] {new OwnKey(pair)}).orElse(new KeyManager[0]);
      context.init(keys, new TrustManager[] {trust}, null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot set up TLS: " + e, e);
    }
  }

  /** Presents the node's own key in its certificate, to servers and clients alike. */
  private static final class OwnKey extends X509ExtendedKeyManager {
    private static final String ALIAS = "node";
    private final PrivateKey key;
    private final String keyType;
    private final X509Certificate[] chain;

    OwnKey(KeyPair pair) {
      this.key = pair.getPrivate();
      this.keyType = pair.getPublic().getAlgorithm();
      this.chain = new X509Certificate[] {NodeCertificate.selfSigned(pair)};
    }

    private String[] aliases(String type) {
      return keyType.equals(type) ? new String[] {ALIAS} : null;
    }

    private String choose(String[] types) {
      return types != null && Arrays.asList(types).contains(keyType) ? ALIAS : null;
    }

    @Override
    public String[] getClientAliases(String type, Principal[] issuers) {
      return aliases(type);
    }

    @Override
    public String chooseClientAlias(String[] types, Principal[] issuers, Socket socket) {
      return choose(types);
    }

    @Override
    public String chooseEngineClientAlias(String[] types, Principal[] issuers, SSLEngine engine) {
      return choose(types);
    }

    @Override
    public String[] getServerAliases(String type, Principal[] issuers) {
      return aliases(type);
    }

    @Override
    public String chooseServerAlias(String type, Principal[] issuers, Socket socket) {
      return keyType.equals(type) ? ALIAS : null;
    }

    @Override
    public String chooseEngineServerAlias(String type, Principal[] issuers, SSLEngine engine) {
      return keyType.equals(type) ? ALIAS : null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return ALIAS.equals(alias) ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      return ALIAS.equals(alias) ? key : null;
    }
  }

  /** The export's side: any client certificate, checked against the members per request. */
  private static final class AnyClient extends X509ExtendedTrustManager {
    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      if (chain == null || chain.length == 0) {
        throw new CertificateException("the client presented an empty certificate chain");
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      throw new CertificateException("the export's TLS context does not connect to servers");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  /** The client's side: a peer whose key is the one its member published, and no other. */
  private static final class PinnedPeers extends X509ExtendedTrustManager {
    private final PeerKeys peers;

    PinnedPeers(PeerKeys peers) {
      this.peers = peers;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      check(chain, engine.getPeerHost(), engine.getPeerPort());
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      InetSocketAddress peer = (InetSocketAddress) socket.getRemoteSocketAddress();
      check(chain, peer.getHostString(), peer.getPort());
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      throw new CertificateException("the peer's address is unknown, so is the key to expect");
    }

    private void check(X509Certificate[] chain, String host, int port) throws CertificateException {
      if (host == null) {
        throw new CertificateException("the peer's address is unknown, so is the key to expect");
      }
      String bare = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
      String peer = (bare.contains(":") ? "[" + bare + "]" : bare) + ":" + port;
      if (chain == null || chain.length == 0) {
        throw new CertificateException("peer " + peer + " presented no certificate");
      }
      Optional<PublicKey> published;
      try {
        published = peers.publishedBy(bare, port);
      } catch (IOException e) {
        throw new CertificateException(
            "could not read the key the member at " + peer + " published: " + e.getMessage(), e);
      }
      PublicKey presented = chain[0].getPublicKey();
      if (published.isEmpty()) {
        throw new CertificateException(
            "peer "
                + peer
                + " presented the key "
                + describe(presented)
                + ", but no member node published a key for that address: not a member's export");
      }
      if (!sameKey(published.get(), presented)) {
        throw new CertificateException(
            "peer "
                + peer
                + " presented the key "
                + describe(presented)
                + ", not the key its member published ("
                + describe(published.get())
                + "): refused, as a man in the middle would be");
      }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      throw new CertificateException("a peer client's TLS context does not accept clients");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }
}
