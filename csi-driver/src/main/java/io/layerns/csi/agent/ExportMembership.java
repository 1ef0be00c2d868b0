package io.layerns.csi.agent;

import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.export.nfs.NfsExport;
import io.layerns.csi.export.sftp.SftpExportServer;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the client lists of the node's three exports equal to its namespace's member nodes: this
 * node and every member that reports an HTTP export, by the address it exports on (the node IP,
 * which is also where its peer requests leave from). Read again when a LayerStore changes in a way
 * that may change them ({@link MembershipWatch}) and every {@code period} besides; a read that
 * fails keeps the lists as they were.
 */
public final class ExportMembership implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ExportMembership.class);

  private final ClusterView cluster;
  private final InetAddress self;
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
  private final java.util.concurrent.atomic.AtomicBoolean refreshQueued =
      new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * @param self the address this node's exports listen on and its requests leave from
   * @param nfsAlways addresses the NFS export accepts besides the members (the admin's {@code
   *     NFS_CLIENTS}, which also turns the NFS export on)
   */
  public ExportMembership(
      ClusterView cluster,
      InetAddress self,
      HttpExportServer http,
      Optional<SftpExportServer> sftp,
      Optional<NfsExport> nfs,
      java.util.Collection<String> nfsAlways) {
    if (self.isAnyLocalAddress()) {
      throw new IllegalArgumentException(
          "the exports listen on every address (" + self.getHostAddress() + "): set NODE_IP");
    }
    this.cluster = cluster;
    this.self = self;
    this.http = http;
    this.sftp = sftp;
    this.nfs = nfs;
    this.nfsAlways = new java.util.TreeSet<>(nfsAlways);
  }

  /** Applies the member list now, then every {@code period}. */
  public void start(Duration period) {
    apply(Set.of(self)); // nobody else until the namespace says who the members are
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
    for (NamespaceView.PeerStore p : ns.peers()) {
      addressOf(p).ifPresent(next::add);
    }
    apply(next);
  }

  /** The addresses the exports accept now. */
  public Set<InetAddress> members() {
    return members;
  }

  private void apply(Set<InetAddress> next) {
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
   * Whether a change of a LayerStore may change some node's member addresses: its namespace, or
   * what {@link #addressOf} reads (kept beside it, so that a new source of addresses changes both).
   */
  static boolean mayChangeMembers(
      io.layerns.api.v1alpha1.LayerStore before, io.layerns.api.v1alpha1.LayerStore after) {
    return !java.util.Objects.equals(namespaceOf(before), namespaceOf(after))
        || !java.util.Objects.equals(httpEndpointOf(before), httpEndpointOf(after));
  }

  private static String namespaceOf(io.layerns.api.v1alpha1.LayerStore s) {
    return s.getSpec() == null ? null : s.getSpec().namespace();
  }

  private static String httpEndpointOf(io.layerns.api.v1alpha1.LayerStore s) {
    return s.getStatus() == null || s.getStatus().endpoints() == null
        ? null
        : s.getStatus().endpoints().http();
  }

  /** A member's address: the host of its HTTP export, which must be an IP literal. */
  private static Optional<InetAddress> addressOf(NamespaceView.PeerStore p) {
    if (p.endpoints() == null || p.endpoints().http() == null) {
      return Optional.empty();
    }
    try {
      String host = URI.create(p.endpoints().http()).getHost();
      if (host == null) {
        return Optional.empty();
      }
      host = host.replaceAll("^\\[|\\]$", "");
      if (!host.matches("[0-9.]+|[0-9A-Fa-f:.]+")) {
        // A name would need a lookup, and whoever controls DNS would choose the members.
        LOG.warn("{} reports an HTTP export by name ({}); not an allowed client", p.node(), host);
        return Optional.empty();
      }
      return Optional.of(InetAddress.getByName(host));
    } catch (IllegalArgumentException | IOException e) {
      LOG.warn("{} reports an unusable HTTP endpoint: {}", p.node(), e.getMessage());
      return Optional.empty();
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
