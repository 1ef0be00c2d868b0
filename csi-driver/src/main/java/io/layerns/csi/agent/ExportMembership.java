package io.layerns.csi.agent;

import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.nfs.NfsExport;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import java.io.IOException;
import java.net.InetAddress;
import java.security.PublicKey;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the client lists of the node's three exports equal to its namespace's member nodes: this
 * node and every member, by the addresses its {@code Node} object lists ({@link NodeAddresses}; a
 * member's own LayerStore says nothing about where it may connect from), and for the SFTP export
 * and the HTTP export's TLS clients the public key each member publishes in its own LayerStore
 * status (which only that member can write). Read again when a LayerStore or a Node changes in a
 * way that may change them ({@link MembershipWatch}, {@link NodeAddresses}) and every {@code
 * period} besides; a read that fails keeps the lists as they were.
 */
public final class ExportMembership implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ExportMembership.class);

  private final ClusterView cluster;
  private final Function<String, Set<InetAddress>> nodeAddresses;
  private final InetAddress self;
  private final Optional<PublicKey> ownKey;
  private final HttpExportServer http;
  private final Optional<SftpExportServer> sftp;
  private final Optional<NfsExport> nfs;
  private final Set<String> nfsAlways;
  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "export-membership");
            t.setDaemon(true);
            return t;
          });
  private volatile Set<InetAddress> members = Set.of();
  private volatile Set<PublicKey> memberKeys;
  private final java.util.concurrent.atomic.AtomicBoolean refreshQueued =
      new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * @param nodeAddresses a node's addresses by its name, from its Node object
   * @param self the address this node's exports listen on and its requests leave from
   * @param ownKey this node's own public key, which its exports accept as they accept its address
   * @param nfsAlways addresses the NFS export accepts besides the members (the admin's {@code
   *     NFS_CLIENTS}, which also turns the NFS export on)
   */
  public ExportMembership(
      ClusterView cluster,
      Function<String, Set<InetAddress>> nodeAddresses,
      InetAddress self,
      Optional<PublicKey> ownKey,
      HttpExportServer http,
      Optional<SftpExportServer> sftp,
      Optional<NfsExport> nfs,
      java.util.Collection<String> nfsAlways) {
    if (self.isAnyLocalAddress()) {
      throw new IllegalArgumentException(
          "the exports listen on every address (" + self.getHostAddress() + "): set NODE_IP");
    }
    this.cluster = cluster;
    this.nodeAddresses = nodeAddresses;
    this.self = self;
    this.ownKey = ownKey;
    this.http = http;
    this.sftp = sftp;
    this.nfs = nfs;
    this.nfsAlways = new java.util.TreeSet<>(nfsAlways);
  }

  /**
   * Starts keeping the exports' client lists as the plugin does: member addresses from a watch of
   * the Nodes, member keys from the LayerStores (watched as well), applied now and every {@code
   * period} besides. Closing the result stops both watches and the refreshes.
   */
  public static AutoCloseable startWatched(
      io.fabric8.kubernetes.client.KubernetesClient client,
      ClusterView cluster,
      InetAddress self,
      Optional<PublicKey> ownKey,
      HttpExportServer http,
      Optional<SftpExportServer> sftp,
      Optional<NfsExport> nfs,
      java.util.Collection<String> nfsAlways,
      Duration period) {
    java.util.concurrent.atomic.AtomicReference<ExportMembership> toRefresh =
        new java.util.concurrent.atomic.AtomicReference<>();
    NodeAddresses addresses =
        NodeAddresses.watch(
            client,
            () -> {
              ExportMembership m = toRefresh.get();
              if (m != null) {
                m.refreshSoon();
              }
            });
    ExportMembership membership =
        new ExportMembership(cluster, addresses::of, self, ownKey, http, sftp, nfs, nfsAlways);
    toRefresh.set(membership);
    membership.start(period);
    // A joining node is let in when its LayerStore shows its key; the poll catches the rest.
    MembershipWatch watch = MembershipWatch.start(client, membership);
    return () -> {
      watch.close();
      addresses.close();
      membership.close();
    };
  }

  /** Applies the member list now, then every {@code period}. */
  public void start(Duration period) {
    // Nobody else until the namespace says who the members are.
    apply(Set.of(self), ownKeys());
    timer.scheduleWithFixedDelay(this::refresh, 0, period.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Asks for a {@link #refresh} on the membership thread; requests coalesce while one waits. */
  public void refreshSoon() {
    if (refreshQueued.compareAndSet(false, true)) {
      try {
        timer.execute(
            () -> {
              refreshQueued.set(false);
              refresh();
            });
      } catch (java.util.concurrent.RejectedExecutionException closed) {
        refreshQueued.set(false);
      }
    }
  }

  /** Reads the namespace's members and applies their addresses to the exports. */
  public void refresh() {
    NamespaceView ns;
    try {
      ns = cluster.namespace();
    } catch (IOException | RuntimeException e) {
      LOG.warn(
          "could not read the namespace's members; export client lists unchanged: {}",
          e.toString());
      return;
    }
    Set<InetAddress> next = new LinkedHashSet<>();
    next.add(self);
    Set<PublicKey> keys = new HashSet<>(ownKeys());
    for (NamespaceView.PeerStore p : ns.peers()) {
      next.addAll(nodeAddresses.apply(p.node()));
      keyOf(p).ifPresent(keys::add);
    }
    apply(next, keys);
  }

  /** The addresses the exports accept now. */
  public Set<InetAddress> members() {
    return members;
  }

  /** This node's own key, which its export accepts as it accepts its own address. */
  private Set<PublicKey> ownKeys() {
    return ownKey.map(Set::of).orElse(Set.of());
  }

  /** The public keys the SFTP and HTTP exports accept now. */
  public Set<PublicKey> memberKeys() {
    return memberKeys;
  }

  private void apply(Set<InetAddress> next, Set<PublicKey> keys) {
    if (!keys.equals(memberKeys)) {
      // Keys first: a member that left loses its SFTP sessions even if its address stays.
      sftp.ifPresent(s -> s.allowKeys(keys));
      http.allowKeys(keys);
      memberKeys = Set.copyOf(keys);
      LOG.info("the exports accept the keys of {} member nodes", keys.size());
    }
    if (next.equals(members)) {
      return;
    }
    http.allowClients(next);
    sftp.ifPresent(s -> s.allowClients(Optional.of(next)));
    if (nfs.isPresent()) {
      try {
        Set<String> clients = new java.util.TreeSet<>(nfsAlways);
        next.stream().map(InetAddress::getHostAddress).forEach(clients::add);
        nfs.get().allowClients(List.copyOf(clients));
      } catch (IOException | RuntimeException e) {
        LOG.error("could not update the NFS export's clients: {}", e.toString());
        return; // tried again on the next refresh
      }
    }
    members = Set.copyOf(next);
    LOG.info("exports accept {}", next.stream().map(InetAddress::getHostAddress).sorted().toList());
  }

  /**
   * Whether a change of a LayerStore may change some node's member list: its namespace, or the key
   * it publishes (kept beside {@link #keyOf}, so that a new source of keys changes both). Addresses
   * come from Nodes ({@link NodeAddresses} watches them).
   */
  static boolean mayChangeMembers(
      io.layerns.api.v1alpha1.LayerStore before, io.layerns.api.v1alpha1.LayerStore after) {
    return !java.util.Objects.equals(namespaceOf(before), namespaceOf(after))
        || !java.util.Objects.equals(publishedKeyOf(before), publishedKeyOf(after));
  }

  private static String namespaceOf(io.layerns.api.v1alpha1.LayerStore s) {
    return s.getSpec() == null ? null : s.getSpec().namespace();
  }

  private static String publishedKeyOf(io.layerns.api.v1alpha1.LayerStore s) {
    return s.getStatus() == null || s.getStatus().endpoints() == null
        ? null
        : s.getStatus().endpoints().sftpHostKey();
  }

  /** A member's own public key, as it publishes it in its LayerStore status. */
  private static Optional<PublicKey> keyOf(NamespaceView.PeerStore p) {
    if (p.endpoints() == null || p.endpoints().sftpHostKey() == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(NodeKey.parsePublicKey(p.endpoints().sftpHostKey()));
    } catch (IllegalArgumentException e) {
      LOG.warn("{} publishes an unusable key: {}", p.node(), e.getMessage());
      return Optional.empty();
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
