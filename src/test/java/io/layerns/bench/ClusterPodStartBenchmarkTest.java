package io.layerns.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.layerns.csi.store.Digest;
import io.layerns.system.PublishImage;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pod-start benchmark's own reading of what the cluster says: the kubelet's pull durations and
 * the snapshot names containerd gives an image's layers, which it checks gone between runs.
 */
class ClusterPodStartBenchmarkTest {

  @Test
  void readsTheKubeletsPullDurations() {
    assertThat(ClusterPodStartBenchmark.goDurationSeconds("12.345s"))
        .isCloseTo(12.345, within(1e-9));
    assertThat(ClusterPodStartBenchmark.goDurationSeconds("950ms")).isCloseTo(0.95, within(1e-9));
    assertThat(ClusterPodStartBenchmark.goDurationSeconds("1m2.5s")).isCloseTo(62.5, within(1e-9));
    assertThat(ClusterPodStartBenchmark.goDurationSeconds("1h0m1s")).isCloseTo(3601, within(1e-9));
  }

  @Test
  void refusesWhatIsNotAGoDuration() {
    for (String bad : List.of("", "12", "12.3 s", "s", "1m2.5sx")) {
      assertThatThrownBy(() -> ClusterPodStartBenchmark.goDurationSeconds(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("not a Go duration");
    }
  }

  @Test
  void chainIdsAreTheOciChainOfTheDiffIds() {
    // Expected values from sha256sum over "<chain> <diff id>", as the OCI image spec defines them.
    List<PublishImage.LayerInfo> layers = List.of(layer('a'), layer('b'), layer('c'));
    assertThat(ClusterPodStartBenchmark.chainIds(layers))
        .containsExactly(
            "sha256:" + "a".repeat(64),
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c",
            "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
  }

  private static PublishImage.LayerInfo layer(char hex) {
    Digest diffId = Digest.parse("sha256:" + String.valueOf(hex).repeat(64));
    return new PublishImage.LayerInfo(diffId, 1, diffId);
  }
}
