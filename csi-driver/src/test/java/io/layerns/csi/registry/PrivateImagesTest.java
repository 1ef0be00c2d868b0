package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.store.Digest;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrivateImagesTest {

  @TempDir Path store;

  @Test
  void layerMarksListsEveryMarkedLayerAndNoDocument() throws Exception {
    PrivateImages marks = new PrivateImages(store);
    Digest a = Digest.of("layer a".getBytes());
    Digest b = Digest.of("layer b".getBytes());
    Digest manifest = Digest.of("manifest".getBytes());
    assertThat(marks.layerMarks()).isEmpty();

    marks.recordLayer(a, List.of("reg.test/team/one"));
    marks.recordLayer(a, List.of("reg.test/team/two"));
    marks.recordLayer(b, List.of("reg.test/team/one"));
    marks.record(manifest, List.of("reg.test/team/one"));

    assertThat(marks.layerMarks())
        .isEqualTo(
            Map.of(
                a, Set.of("reg.test/team/one", "reg.test/team/two"),
                b, Set.of("reg.test/team/one")));
  }
}
