package io.layerns.csi.agent;

import io.layerns.csi.export.nfs.NfsExport;
import io.layerns.csi.node.ClusterView;
import io.layerns.csi.node.NamespaceView;
import io.layerns.csi.registry.PrivateImages;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the NFS export's layers equal to the store's public layers: those that neither this node
 * nor any member of its namespace marks private (see {@link PrivateImages} and the members'
 * published {@code privateTo}). NFS believes the uid a client claims, so a private layer's tree is
 * never exported; peers read such a layer over SFTP or copy it over HTTP. A layer is marked before
 * it lands in the store, so no listing shows it unmarked. The store is read every {@code period};
 * the members' marks at most every {@link #MEMBER_MARKS_PERIOD}.
 */
public final class NfsPublicLayers implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(NfsPublicLayers.class);

  /** How long the members' marks are used before they are read again from the API server. */
  static final Duration MEMBER_MARKS_PERIOD = Duration.ofSeconds(30);

  private final LocalLayerStore store;
  private final PrivateImages privateImages;
  private final ClusterView cluster;
  private final NfsExport nfs;
  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "nfs-public-layers");
            t.setDaemon(true);
            return t;
          });
  private NamespaceView members = NamespaceView.NONE;
  private long membersReadAt;
  private boolean membersRead;

  public NfsPublicLayers(LocalLayerStore store, ClusterView cluster, NfsExport nfs) {
    this.store = store;
    this.privateImages = new PrivateImages(store.root());
    this.cluster = cluster;
    this.nfs = nfs;
  }

  /** Exports the public layers now, then every {@code period}. */
  public NfsPublicLayers start(Duration period) {
    timer.scheduleWithFixedDelay(this::refreshLogged, 0, period.toMillis(), TimeUnit.MILLISECONDS);
    return this;
  }

  private void refreshLogged() {
    try {
      refresh();
    } catch (IOException | RuntimeException e) {
      // Kept as it was (no private layer was exported before); tried again on the next tick.
      LOG.warn("could not update the NFS export's layers: {}", e.toString());
    }
  }

  /** Reads the store and the marks and exports exactly the public layers. */
  public synchronized void refresh() throws IOException {
    NamespaceView ns = members();
    if (!membersRead) {
      // Without the members' marks a layer only a member knows as private looks public: export
      // nothing until they have been read once.
      nfs.exportLayers(List.of());
      return;
    }
    Set<Digest> marked = privateImages.layerMarks().keySet();
    List<Digest> exported = new ArrayList<>();
    for (StoredLayer layer : store.listLayers()) {
      Digest d = layer.digest();
      if (!marked.contains(d) && ns.privateTo(d).isEmpty()) {
        exported.add(d);
      }
    }
    nfs.exportLayers(exported);
  }

  private NamespaceView members() {
    long now = System.nanoTime();
    if (!membersRead || now - membersReadAt >= MEMBER_MARKS_PERIOD.toNanos()) {
      try {
        members = cluster.namespace();
        membersRead = true;
        membersReadAt = now;
      } catch (IOException | RuntimeException e) {
        LOG.warn(
            "could not read the members' private marks; using the last ones: {}", e.toString());
      }
    }
    return members;
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
