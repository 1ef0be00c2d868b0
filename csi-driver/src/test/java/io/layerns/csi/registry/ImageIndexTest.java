package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.Digest;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ImageIndexTest {
  private static final String ENTRY = "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":100%s}";

  private static String entry(char fill, String platform) {
    return ENTRY.formatted(
        MediaTypes.DOCKER_MANIFEST,
        "sha256:" + String.valueOf(fill).repeat(64),
        platform == null ? "" : ",\"platform\":" + platform);
  }

  private static Digest digest(char fill) {
    return Digest.parse("sha256:" + String.valueOf(fill).repeat(64));
  }

  private static ImageIndex index(String... entries) throws Exception {
    String json =
        "{\"schemaVersion\":2,\"mediaType\":\""
            + MediaTypes.DOCKER_MANIFEST_LIST
            + "\",\"manifests\":["
            + String.join(",", entries)
            + "]}";
    return (ImageIndex) ManifestDocument.parse(json.getBytes(StandardCharsets.UTF_8), null);
  }

  @Test
  void picksTheNodesPlatformAndSkipsAttestations() throws Exception {
    ImageIndex index =
        index(
            entry('a', "{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}"),
            entry('b', "{\"os\":\"unknown\",\"architecture\":\"unknown\"}"),
            entry('c', null),
            entry('d', "{\"os\":\"linux\",\"architecture\":\"amd64\"}"),
            entry('e', "{\"os\":\"windows\",\"architecture\":\"amd64\"}"));
    assertThat(index.select(Platform.LINUX_AMD64)).map(Descriptor::digest).contains(digest('d'));
    assertThat(index.select(Platform.parse("linux/arm64")))
        .map(Descriptor::digest)
        .contains(digest('a'));
    assertThat(index.select(Platform.parse("linux/s390x"))).isEmpty();
    assertThat(index.platforms())
        .containsExactly(
            "linux/arm64/v8", "unknown/unknown", "(none)", "linux/amd64", "windows/amd64");
  }

  @Test
  void armVariantsMustMatchOnceDefaultsApply() throws Exception {
    ImageIndex index =
        index(
            entry('1', "{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}"),
            entry('2', "{\"os\":\"linux\",\"architecture\":\"arm\"}"),
            entry('3', "{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}"),
            entry('4', "{\"os\":\"linux\",\"architecture\":\"arm64\"}"));
    // arm without a variant means v7; an exact variant beats an entry that only defaults to it.
    assertThat(index.select(Platform.parse("linux/arm/v7")))
        .map(Descriptor::digest)
        .contains(digest('3'));
    assertThat(index.select(Platform.parse("linux/arm/v6")))
        .map(Descriptor::digest)
        .contains(digest('1'));
    assertThat(index.select(Platform.parse("linux/arm")))
        .map(Descriptor::digest)
        .contains(digest('2'));
    assertThat(index.select(Platform.parse("linux/arm64/v8")))
        .map(Descriptor::digest)
        .contains(digest('4'));
    assertThat(index.select(Platform.parse("linux/arm/v5"))).isEmpty();
  }

  @Test
  void parsesManifestsOfBothFormatsAndRefusesOthers() throws Exception {
    TestImage oci = TestImage.threeLayers("x", Platform.LINUX_AMD64);
    ImageManifest m = (ImageManifest) ManifestDocument.parse(oci.manifest(), null);
    assertThat(m.mediaType()).isEqualTo(MediaTypes.OCI_MANIFEST);
    assertThat(m.config().digest()).isEqualTo(oci.configDigest());
    assertThat(m.layers())
        .extracting(Descriptor::digest)
        .containsExactlyElementsOf(oci.layers().stream().map(TestImage.Layer::digest).toList());
    TestImage docker = new TestImage(Platform.LINUX_AMD64, oci.layers(), true);
    assertThat(ManifestDocument.parse(docker.manifest(), null).mediaType())
        .isEqualTo(MediaTypes.DOCKER_MANIFEST);
    assertThatThrownBy(
            () ->
                ManifestDocument.parse(
                    "{\"schemaVersion\":1,\"name\":\"x\"}".getBytes(StandardCharsets.UTF_8), null))
        .isInstanceOf(UnsupportedManifestException.class)
        .hasMessageContaining("schemaVersion 1 is not supported");
    assertThatThrownBy(
            () ->
                ManifestDocument.parse(
                    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example+json\"}"
                        .getBytes(StandardCharsets.UTF_8),
                    null))
        .hasMessageContaining("application/vnd.example+json is not supported");
  }

  @Test
  void platformParsingNamesWhatIsWrong() {
    assertThat(Platform.parse("linux/arm64/v8")).isEqualTo(new Platform("linux", "arm64", "v8"));
    assertThatThrownBy(() -> Platform.parse("linux")).hasMessageContaining("os/architecture");
    assertThatThrownBy(() -> Platform.parse("linux//v8")).hasMessageContaining("malformed part");
  }
}
