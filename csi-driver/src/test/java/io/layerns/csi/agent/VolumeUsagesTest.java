package io.layerns.csi.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.api.v1alpha1.PublishedVolume;
import io.layerns.api.v1alpha1.VolumeLayer;
import java.util.List;
import org.junit.jupiter.api.Test;

class VolumeUsagesTest {
  private static final String BASE = "sha256:" + "a".repeat(64);
  private static final String APP = "sha256:" + "b".repeat(64);

  /**
   * Found by ChaosIT: node-3 fetched a copy of BASE while it owned it, its volume kept reading node
   * 1's copy over sshfs, and once node-3 lost ownership its copy stayed forever, as if the volume
   * read it.
   */
  @Test
  void aLayerReadFromAPeersCopyDoesNotPinThisNodesOwnCopy() {
    List<PublishedVolume> volumes =
        List.of(
            new PublishedVolume(
                "vol-1",
                null,
                "app",
                List.of(new VolumeLayer(BASE, "node-1"), new VolumeLayer(APP, "node-3"))));

    assertThat(VolumeUsages.readHere(volumes, "node-3")).containsExactly(APP);
  }

  @Test
  void aVolumeWithoutLayersPinsNothing() {
    assertThat(VolumeUsages.readHere(List.of(new PublishedVolume("v", null, "i", null)), "n"))
        .isEmpty();
  }
}
