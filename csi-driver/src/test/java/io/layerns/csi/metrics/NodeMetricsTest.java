package io.layerns.csi.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The names, labels and values Prometheus scrapes from the node plugin. */
class NodeMetricsTest {
  private final NodeMetrics metrics = NodeMetrics.prometheus();

  @Test
  void closedLabelSetsAreExportedAtZeroBeforeAnyEvent() {
    String text = metrics.scrape();
    assertThat(text)
        .contains("layerns_node_fetched_bytes_total{source=\"peer\"} 0.0")
        .contains("layerns_node_fetched_bytes_total{source=\"registry\"} 0.0")
        .contains("layerns_node_served_bytes_total{export=\"http\"} 0.0")
        .contains("layerns_node_served_bytes_total{export=\"sftp\"} 0.0")
        .contains("layerns_node_refusals_total{reason=\"hostile_input\"} 0.0")
        .contains("layerns_node_refusals_total{reason=\"non_member\"} 0.0")
        .contains("layerns_node_evictions_total 0.0")
        .contains("layerns_node_scrub_copies_verified_total 0.0")
        .contains("layerns_node_scrub_corrupt_copies_total 0.0")
        .contains("layerns_node_scrub_read_bytes_total 0.0")
        .contains("layerns_node_publish_seconds_count{outcome=\"ok\",transport=\"copy\"} 0");
  }

  @Test
  void eventsMoveTheirSeries() throws Exception {
    metrics.published("sshfs", "ok", 1_500_000_000L);
    metrics.published("copy", "not_found", 20_000_000L);
    metrics.unpublished("ok", 5_000_000L);
    metrics.served(NodeMetrics.Export.SFTP, 4096);
    metrics.refused(NodeMetrics.Refusal.ACCESS_DENIED);
    metrics.evicted();
    metrics.scrubVerified();
    metrics.scrubFoundCorrupt();
    metrics.watchScrubReads(() -> 1234);
    try (InputStream in =
        metrics.countFetched(NodeMetrics.Source.PEER, new ByteArrayInputStream(new byte[1000]))) {
      in.readAllBytes();
    }
    Digest layer = Digest.parse("sha256:" + "a".repeat(64));
    Digest other = Digest.parse("sha256:" + "b".repeat(64));
    metrics.watchRemoteMounts(
        () -> List.of(new RemoteLayer("node-1", layer), new RemoteLayer("node-1", other)),
        () -> Set.of(new RemoteLayer("node-1", other)));

    String text = metrics.scrape();
    assertThat(text)
        .contains("layerns_node_publish_seconds_count{outcome=\"ok\",transport=\"sshfs\"} 1")
        .contains(
            "layerns_node_publish_seconds_bucket{outcome=\"ok\",transport=\"sshfs\",le=\"1.0\"} 0")
        .contains(
            "layerns_node_publish_seconds_bucket{outcome=\"ok\",transport=\"sshfs\",le=\"2.0\"} 1")
        .contains("layerns_node_publish_seconds_count{outcome=\"not_found\",transport=\"copy\"} 1")
        .contains("layerns_node_unpublish_seconds_count{outcome=\"ok\"} 1")
        .contains("layerns_node_served_bytes_total{export=\"sftp\"} 4096.0")
        .contains("layerns_node_refusals_total{reason=\"access_denied\"} 1.0")
        .contains("layerns_node_evictions_total 1.0")
        .contains("layerns_node_scrub_copies_verified_total 1.0")
        .contains("layerns_node_scrub_corrupt_copies_total 1.0")
        .contains("layerns_node_scrub_read_bytes_total 1234.0")
        .contains("layerns_node_fetched_bytes_total{source=\"peer\"} 1000.0")
        .contains("layerns_node_remote_mounts{peer=\"node-1\",state=\"alive\"} 1.0")
        .contains("layerns_node_remote_mounts{peer=\"node-1\",state=\"dead\"} 1.0");
  }
}
