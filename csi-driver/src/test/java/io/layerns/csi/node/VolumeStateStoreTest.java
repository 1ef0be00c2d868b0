package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VolumeStateStoreTest {

  @TempDir Path tmp;

  @Test
  void stateRoundTripsThroughTheFile() throws Exception {
    var store = new VolumeStateStore(tmp);
    var state =
        new VolumeState(
            "csi-ab/c:d",
            Path.of("/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/v/mount"),
            "example.com/app:1",
            false,
            List.of(Path.of("/l/0"), Path.of("/l/1 with space")),
            store.upperDir("csi-ab/c:d"),
            store.workDir("csi-ab/c:d"),
            "team/app-7d9f");

    store.save(state);

    assertThat(new VolumeStateStore(tmp).load("csi-ab/c:d")).contains(state);
    assertThat(store.loadAll()).containsExactly(state);
  }

  @Test
  void deleteRemovesUpperLayerWithoutFollowingLinks() throws Exception {
    var store = new VolumeStateStore(tmp);
    Path outside = Files.createDirectories(tmp.resolve("outside"));
    Files.writeString(outside.resolve("keep"), "keep");
    Path upper = Files.createDirectories(store.upperDir("v"));
    Files.createSymbolicLink(upper.resolve("link"), outside);
    Files.createDirectories(store.workDir("v"));
    store.save(
        new VolumeState("v", tmp.resolve("t"), "i", false, List.of(), upper, store.workDir("v")));

    store.delete("v");

    assertThat(store.volumeDir("v")).doesNotExist();
    assertThat(store.load("v")).isEmpty();
    assertThat(outside.resolve("keep")).hasContent("keep");
  }
}
