package io.layerns.csi.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * An image index (Docker: manifest list): one manifest per platform.
 *
 * @param mediaType OCI index or Docker manifest list media type
 * @param manifests the entries, in the index's order
 */
public record ImageIndex(String mediaType, List<Descriptor> manifests) implements ManifestDocument {
  public ImageIndex {
    manifests = List.copyOf(manifests);
  }

  /**
   * The entry for {@code node}: among entries whose platform runs on it, one whose variant is
   * exactly the node's first, else the first in index order. Entries without a platform (such as
   * attestations) are never chosen.
   */
  public Optional<Descriptor> select(Platform node) {
    Descriptor first = null;
    for (Descriptor d : manifests) {
      if (d.platform() == null || !d.platform().runsOn(node)) {
        continue;
      }
      if (node.variant() != null && node.variant().equals(d.platform().variant())) {
        return Optional.of(d);
      }
      if (first == null) {
        first = d;
      }
    }
    return Optional.ofNullable(first);
  }

  /** The platforms the index offers, for error messages. */
  public List<String> platforms() {
    List<String> result = new ArrayList<>();
    for (Descriptor d : manifests) {
      result.add(d.platform() == null ? "(none)" : d.platform().toString());
    }
    return result;
  }
}
