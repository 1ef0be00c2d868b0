package io.layerns.csi.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class OverlayOptionsTest {

  private static final List<Path> EMPTY = List.of(Path.of("/s/empty/0"), Path.of("/s/empty/1"));

  @Test
  void topLayerComesFirstInLowerdir() {
    var plan =
        OverlayOptions.plan(
            List.of(Path.of("/l/base"), Path.of("/l/mid"), Path.of("/l/top")), null, null, EMPTY);

    assertThat(plan.options()).isEqualTo("lowerdir=/l/top:/l/mid:/l/base");
    assertThat(plan.links()).isEmpty();
  }

  @Test
  void readOnlySingleLayerIsPaddedWithAnEmptyLayerBelow() {
    // overlayfs refuses a read-only mount with a single lower layer.
    var plan = OverlayOptions.plan(List.of(Path.of("/l/only")), null, null, EMPTY);

    assertThat(plan.options()).isEqualTo("lowerdir=/l/only:/s/empty/0");
  }

  @Test
  void writableOverlayNamesUpperAndWork() {
    var plan =
        OverlayOptions.plan(
            List.of(Path.of("/l/base"), Path.of("/l/top")),
            Path.of("/v/upper"),
            Path.of("/v/work"),
            EMPTY);

    assertThat(plan.options())
        .isEqualTo("lowerdir=/l/top:/l/base,upperdir=/v/upper,workdir=/v/work");
  }

  @Test
  void longLayerListsUseShortLinksInTopFirstOrder() {
    String longDir = "/var/lib/layerns/store/layers/sha256-" + "0123456789abcdef".repeat(4);
    List<Path> layers = IntStream.range(0, 120).mapToObj(i -> Path.of(longDir + "-" + i)).toList();

    var plan = OverlayOptions.plan(layers, Path.of("/v/upper"), Path.of("/v/work"), EMPTY);

    String expectedLower =
        String.join(":", IntStream.range(0, 120).mapToObj(Integer::toString).toList());
    assertThat(plan.options()).isEqualTo("lowerdir=" + expectedLower + ",upperdir=u,workdir=w");
    assertThat(plan.options().getBytes(StandardCharsets.UTF_8).length).isLessThan(4096);
    assertThat(plan.links()).hasSize(122);
    assertThat(plan.links().get("0")).isEqualTo(layers.get(119));
    assertThat(plan.links().get("119")).isEqualTo(layers.get(0));
    assertThat(plan.links().get("u")).isEqualTo(Path.of("/v/upper"));
  }

  @Test
  void pathsWithSeparatorsUseLinks() {
    var plan =
        OverlayOptions.plan(
            List.of(Path.of("/store/sha256:aa"), Path.of("/store/a,b")), null, null, EMPTY);

    assertThat(plan.options()).isEqualTo("lowerdir=0:1");
    assertThat(plan.links()).containsEntry("0", Path.of("/store/a,b"));
    assertThat(plan.links()).containsEntry("1", Path.of("/store/sha256:aa"));
  }

  @Test
  void moreLayersThanOverlayfsStacksAreRefused() {
    List<Path> layers = Collections.nCopies(OverlayOptions.MAX_LAYERS + 1, Path.of("/l"));

    assertThatThrownBy(() -> OverlayOptions.plan(layers, null, null, EMPTY))
        .hasMessage("an overlay holds at most 500 layers, got 501");
  }
}
