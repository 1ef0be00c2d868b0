package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A volume that names its image by tag gets what the tag points at now: the plugin asks the
 * registry (Debian's docker-registry) for the tag's digest on each publish, uses the digest it
 * recorded only when the registry cannot be reached, and never when the registry says the tag is
 * gone. Published through the real node plugin's socket, with real overlay mounts.
 */
class TagResolutionIT {
  private static final String REPO = "team/app";
  private static final TestImage A = TestImage.threeLayers("a", Platform.LINUX_AMD64);
  private static final TestImage B = TestImage.threeLayers("b", Platform.LINUX_AMD64);

  @TempDir Path base;
  private RegistryServer registry;
  private RegistryPusher pusher;
  private SocketPlugin plugin;

  @BeforeEach
  void start() throws Exception {
    // The test registry is on loopback, which the plugin refuses unless allowed.
    plugin = SocketPlugin.start(base, RegistryAddresses.parse("127.0.0.0/8"));
    registry = RegistryServer.start(Files.createDirectories(base.resolve("registry")), null);
    pusher = new RegistryPusher(registry.url(), null);
  }

  @AfterEach
  void stop() throws Exception {
    if (plugin != null) {
      plugin.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void aTagMovedAtTheRegistryGivesTheNewImageAndTheRecordedOneOnlyWhileTheRegistryIsDown()
      throws Exception {
    String image = registry.host() + "/" + REPO + ":v1";
    pusher.push(REPO, A, "v1");
    Path first = plugin.publish("csi-tag-1", image);
    assertThat(first.resolve("etc/os-release")).hasContent("ID=test-a\n");

    pusher.push(REPO, B, "v1");
    Path second = plugin.publish("csi-tag-2", image);
    assertThat(second.resolve("etc/os-release")).hasContent("ID=test-b\n");
    // The first volume keeps what it was published with.
    assertThat(first.resolve("etc/os-release")).hasContent("ID=test-a\n");

    registry.close();
    Path third = plugin.publish("csi-tag-3", image);
    assertThat(third.resolve("etc/os-release")).hasContent("ID=test-b\n");
  }

  @Test
  void aTagDeletedAtTheRegistryIsNotFoundThoughThisNodeRecordedIt() throws Exception {
    String image = registry.host() + "/" + REPO + ":gone";
    pusher.push(REPO, A, "gone");
    plugin.publish("csi-gone-1", image);

    registry.deleteTag(REPO, "gone");
    assertThatThrownBy(() -> plugin.publish("csi-gone-2", image))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.getStatus().getDescription())
                  .contains("the registry has no tag gone")
                  .contains("the digest this node recorded for it, " + A.manifestDigest())
                  .contains("is not used");
            });
  }

  /**
   * What asking the registry costs a publish of an image the node holds: by tag (a manifest HEAD)
   * against by digest (no request), publish and unpublish alternating, the median of each.
   */
  @Test
  void publishLatencyOfAHeldImageByTagAndByDigest() throws Exception {
    pusher.push(REPO, A, "held");
    String byTag = registry.host() + "/" + REPO + ":held";
    String byDigest = registry.host() + "/" + REPO + "@" + A.manifestDigest();
    plugin.unpublish("csi-warm", plugin.publish("csi-warm", byTag));
    List<Long> tag = new ArrayList<>();
    List<Long> digest = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      tag.add(timedPublish("csi-t" + i, byTag));
      digest.add(timedPublish("csi-d" + i, byDigest));
    }
    long tagMedian = median(tag);
    long digestMedian = median(digest);
    System.out.printf(
        "publish of a held image, median of 30: by tag %.2f ms, by digest %.2f ms, ratio %.2f%n",
        tagMedian / 1e6, digestMedian / 1e6, (double) tagMedian / digestMedian);
  }

  private long timedPublish(String volumeId, String image) throws Exception {
    long t0 = System.nanoTime();
    Path target = plugin.publish(volumeId, image);
    long took = System.nanoTime() - t0;
    assertThat(target.resolve("etc/os-release")).hasContent("ID=test-a\n");
    plugin.unpublish(volumeId, target);
    return took;
  }

  private static long median(List<Long> values) {
    List<Long> sorted = values.stream().sorted().toList();
    return sorted.get(sorted.size() / 2);
  }
}
