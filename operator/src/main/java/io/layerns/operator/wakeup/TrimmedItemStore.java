package io.layerns.operator.wakeup;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import io.layerns.api.v1alpha1.Layer;
import io.layerns.api.v1alpha1.LayerHolder;
import io.layerns.api.v1alpha1.LayerReference;
import io.layerns.api.v1alpha1.LayerStatus;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * An informer cache that keeps each object trimmed to what the operator reads. At 1,000 nodes x
 * 50,000 layers the caches of whole objects took most of a 914 MiB heap: every Layer's
 * managedFields, and a second full copy of every Layer's status in the namespace reconciler, which
 * reads only spec and status.namespaces.
 *
 * <p>fabric8's {@code ReducedStateItemStore} keeps chosen fields as values and rebuilds an object
 * through the JSON mapper on every read; the namespace reconciler lists all Layers each time, so
 * this store trims once, on write, and reads cost nothing. Strings repeated across objects
 * (digests, node names, condition texts) are interned, so 50,000 statuses share them.
 */
public final class TrimmedItemStore<V extends HasMetadata> implements ItemStore<V> {
  private final Map<String, V> items = new ConcurrentHashMap<>();
  private final UnaryOperator<V> trim;

  public TrimmedItemStore(UnaryOperator<V> trim) {
    this.trim = trim;
  }

  /** Keeps whole objects less their managedFields (server-side apply's bookkeeping). */
  public static <V extends HasMetadata> TrimmedItemStore<V> withoutManagedFields() {
    return new TrimmedItemStore<>(TrimmedItemStore::dropManagedFields);
  }

  /** Layers as the Layer reconciler needs them: whole status, strings interned. */
  public static TrimmedItemStore<Layer> layers() {
    return new TrimmedItemStore<>(
        l -> {
          dropManagedFields(l);
          l.setStatus(interned(l.getStatus()));
          return l;
        });
  }

  /** Layers as the namespace reconciler reads them: spec and status.namespaces only. */
  public static TrimmedItemStore<Layer> layerSpecsAndNamespaces() {
    return new TrimmedItemStore<>(
        l -> {
          dropManagedFields(l);
          LayerStatus s = l.getStatus();
          if (s != null) {
            l.setStatus(
                new LayerStatus(
                    null,
                    internAll(s.namespaces()),
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null));
          }
          return l;
        });
  }

  static <V extends HasMetadata> V dropManagedFields(V item) {
    if (item.getMetadata() != null) {
      item.getMetadata().setManagedFields(null);
    }
    return item;
  }

  static LayerStatus interned(LayerStatus s) {
    if (s == null) {
      return null;
    }
    if (s.conditions() != null) {
      for (Condition c : s.conditions()) {
        c.setType(intern(c.getType()));
        c.setStatus(intern(c.getStatus()));
        c.setReason(intern(c.getReason()));
        c.setMessage(intern(c.getMessage()));
        c.setLastTransitionTime(intern(c.getLastTransitionTime()));
      }
    }
    return new LayerStatus(
        s.observedGeneration(),
        internAll(s.namespaces()),
        intern(s.size()),
        s.holders() == null
            ? null
            : s.holders().stream().map(h -> new LayerHolder(intern(h.node()), h.state())).toList(),
        s.copies(),
        internAll(s.owners()),
        intern(s.ownerSummary()),
        s.references() == null
            ? null
            : s.references().stream()
                .map(r -> new LayerReference(intern(r.node()), intern(r.readsFrom()), r.volumes()))
                .toList(),
        s.referenceCount(),
        s.conditions());
  }

  private static String intern(String s) {
    return s == null ? null : s.intern();
  }

  private static List<String> internAll(List<String> l) {
    return l == null ? null : l.stream().map(String::intern).toList();
  }

  @Override
  public String getKey(V obj) {
    return Cache.metaNamespaceKeyFunc(obj);
  }

  @Override
  public V put(String key, V obj) {
    return items.put(key, trim.apply(obj));
  }

  @Override
  public V remove(String key) {
    return items.remove(key);
  }

  @Override
  public Stream<String> keySet() {
    return items.keySet().stream();
  }

  @Override
  public Stream<V> values() {
    return items.values().stream();
  }

  @Override
  public int size() {
    return items.size();
  }

  @Override
  public V get(String key) {
    return items.get(key);
  }
}
