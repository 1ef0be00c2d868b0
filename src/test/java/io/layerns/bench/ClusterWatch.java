package io.layerns.bench;

import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceStatus;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a user would read with {@code kubectl get layers,lns}, kept up to date by watches: per Layer
 * only its copies and owners, so 50,000 Layers cost the benchmark a few MiB, not a cache of full
 * objects that would blur the operator's heap figure. Counts the events it receives.
 */
final class ClusterWatch implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterWatch.class);

  /** A Layer as the convergence check needs it. */
  record LayerView(int copies, int owners) {}

  private final KubernetesClient client;
  private final Map<String, LayerView> layers = new ConcurrentHashMap<>();
  private final AtomicReference<LayerNamespaceStatus> namespace = new AtomicReference<>();
  final AtomicLong layerAdded = new AtomicLong();
  final AtomicLong layerModified = new AtomicLong();
  final AtomicLong namespaceModified = new AtomicLong();
  private volatile Watch layerWatch;
  private volatile Watch namespaceWatch;
  private volatile boolean closed;

  ClusterWatch(KubernetesClient client) {
    this.client = client;
  }

  void start() {
    watchLayers();
    namespaceWatch = client.resources(LayerNamespace.class).watch(new NamespaceWatcher());
  }

  Map<String, LayerView> layers() {
    return layers;
  }

  LayerNamespaceStatus namespaceStatus() {
    return namespace.get();
  }

  private void watchLayers() {
    // List first so that a reopened watch starts from a complete picture.
    var list = client.resources(Layer.class).list(new ListOptionsBuilder().withLimit(0L).build());
    list.getItems().forEach(this::record);
    layerWatch =
        client
            .resources(Layer.class)
            .watch(
                new ListOptionsBuilder()
                    .withResourceVersion(list.getMetadata().getResourceVersion())
                    .build(),
                new LayerWatcher());
  }

  private void record(Layer l) {
    if (l.getSpec() == null) {
      return;
    }
    var s = l.getStatus();
    layers.put(
        l.getSpec().digest(),
        new LayerView(
            s == null || s.copies() == null ? 0 : s.copies(),
            s == null || s.owners() == null ? 0 : s.owners().size()));
  }

  private final class LayerWatcher implements Watcher<Layer> {
    @Override
    public void eventReceived(Action action, Layer layer) {
      switch (action) {
        case ADDED -> {
          layerAdded.incrementAndGet();
          record(layer);
        }
        case MODIFIED -> {
          layerModified.incrementAndGet();
          record(layer);
        }
        case DELETED -> layers.remove(layer.getSpec().digest());
        default -> {}
      }
    }

    @Override
    public void onClose(WatcherException cause) {
      if (!closed) {
        LOG.warn("Layer watch closed ({}); listing and watching again", cause.getMessage());
        watchLayers();
      }
    }
  }

  private final class NamespaceWatcher implements Watcher<LayerNamespace> {
    @Override
    public void eventReceived(Action action, LayerNamespace ns) {
      if (action == Action.MODIFIED) {
        namespaceModified.incrementAndGet();
      }
      namespace.set(ns.getStatus());
    }

    @Override
    public void onClose(WatcherException cause) {
      if (!closed) {
        namespaceWatch = client.resources(LayerNamespace.class).watch(this);
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    if (layerWatch != null) {
      layerWatch.close();
    }
    if (namespaceWatch != null) {
      namespaceWatch.close();
    }
  }
}
