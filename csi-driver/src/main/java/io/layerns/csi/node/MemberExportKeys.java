package io.layerns.csi.node;

import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.identity.PeerKeys;
import java.io.IOException;
import java.net.URI;
import java.security.PublicKey;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys this node's namespace members publish in their LayerStore status ({@code
 * endpoints.sftpHostKey}, which only each member can write), by the address of the HTTP export each
 * publishes beside it ({@code endpoints.http}). Read from the cluster when a lookup misses (a
 * member that just joined) or the last read is older than {@link #MAX_AGE}, so that TLS handshakes
 * do not each cost an API call.
 */
public final class MemberExportKeys implements PeerKeys {
  private static final Logger LOG = LoggerFactory.getLogger(MemberExportKeys.class);

  /** How long a read of the members' keys is used for addresses it knows. */
  public static final Duration MAX_AGE = Duration.ofSeconds(10);

  private final ClusterView cluster;
  private volatile Read last;

  private record Read(Map<String, PublicKey> byAddress, long nanos) {}

  public MemberExportKeys(ClusterView cluster) {
    this.cluster = cluster;
  }

  @Override
  public Optional<PublicKey> publishedBy(String host, int port) throws IOException {
    String address = address(host, port);
    Read read = last;
    if (read == null
        || System.nanoTime() - read.nanos() > MAX_AGE.toNanos()
        || !read.byAddress().containsKey(address)) {
      read = new Read(keysByAddress(cluster.namespace()), System.nanoTime());
      last = read;
    }
    return Optional.ofNullable(read.byAddress().get(address));
  }

  /**
   * Each member's published key by its HTTP export's {@code host:port}; unusable keys, exports that
   * are not {@code https} and addresses that two members claim with different keys left out (the
   * address is what a member writes about itself: one must not get the key another's is pinned to).
   */
  static Map<String, PublicKey> keysByAddress(NamespaceView ns) {
    Map<String, PublicKey> keys = new HashMap<>();
    java.util.Set<String> claimedTwice = new java.util.HashSet<>();
    for (NamespaceView.PeerStore p : ns.peers()) {
      var e = p.endpoints();
      if (e == null || e.http() == null || e.sftpHostKey() == null) {
        continue;
      }
      try {
        URI http = URI.create(e.http());
        if (!"https".equals(http.getScheme())) {
          throw new IllegalArgumentException("not https: " + e.http());
        }
        String address = address(http.getHost(), http.getPort());
        PublicKey key = NodeKey.parsePublicKey(e.sftpHostKey());
        PublicKey before = keys.putIfAbsent(address, key);
        if (before != null && !before.equals(key)) {
          claimedTwice.add(address);
          LOG.warn(
              "{} publishes {}, which another member publishes too: neither is trusted there",
              p.node(),
              address);
        }
      } catch (IllegalArgumentException bad) {
        LOG.warn("{} publishes an unusable HTTP export or key: {}", p.node(), bad.getMessage());
      }
    }
    keys.keySet().removeAll(claimedTwice);
    return keys;
  }

  private static String address(String host, int port) {
    String bare = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    return bare.toLowerCase(Locale.ROOT) + ":" + port;
  }
}
