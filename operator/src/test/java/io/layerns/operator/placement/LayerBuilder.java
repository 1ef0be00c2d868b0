package io.layerns.operator.placement;

import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.CopyState;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Builds a {@link LayerState} for tests in one readable line. */
final class LayerBuilder {
  private final String digest;
  private long size = 100;
  private final List<Holder> holders = new ArrayList<>();
  private final List<Reference> references = new ArrayList<>();
  private boolean source;
  private List<String> owners = List.of();
  private String coldKeeper;
  private final List<ColdReport> coldReports = new ArrayList<>();

  private LayerBuilder(String digest) {
    this.digest = digest;
  }

  static LayerBuilder layer(String name) {
    return new LayerBuilder("sha256:" + name);
  }

  LayerBuilder size(long bytes) {
    size = bytes;
    return this;
  }

  LayerBuilder present(String... nodes) {
    return copies(CopyState.Present, nodes);
  }

  LayerBuilder fetching(String... nodes) {
    return copies(CopyState.Fetching, nodes);
  }

  LayerBuilder failed(String... nodes) {
    return copies(CopyState.Failed, nodes);
  }

  LayerBuilder copies(CopyState state, String... nodes) {
    for (String node : nodes) {
      holders.add(Holder.of(node, state));
    }
    return this;
  }

  LayerBuilder idle(String node, CopyState state, Instant since) {
    holders.add(new Holder(node, state, since));
    return this;
  }

  LayerBuilder holder(Holder holder) {
    holders.add(holder);
    return this;
  }

  LayerBuilder reads(String node, String from) {
    references.add(new Reference(node, from));
    return this;
  }

  LayerBuilder source() {
    source = true;
    return this;
  }

  LayerBuilder owners(String... nodes) {
    owners = List.of(nodes);
    return this;
  }

  /** The node the previous decision made the keeper of the bucket copy. */
  LayerBuilder coldKeeper(String node) {
    coldKeeper = node;
    return this;
  }

  /** A node's report of the bucket copy. */
  LayerBuilder cold(String node, ColdCopyState state) {
    coldReports.add(new ColdReport(node, state));
    return this;
  }

  LayerState build() {
    return new LayerState(
        digest, size, holders, references, source, owners, coldKeeper, coldReports);
  }
}
