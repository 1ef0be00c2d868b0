package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ImageReferenceTest {
  private static final String HEX = "0123456789abcdef".repeat(4);

  static Stream<Arguments> valid() {
    return Stream.of(
        Arguments.of(
            "[valid] bare name gets docker.io and library/",
            "busybox",
            "docker.io",
            "library/busybox",
            "latest",
            null),
        Arguments.of(
            "[valid] docker hub user repo", "team/app:1.2", "docker.io", "team/app", "1.2", null),
        Arguments.of(
            "[valid] index.docker.io is docker.io",
            "index.docker.io/alpine:3",
            "docker.io",
            "library/alpine",
            "3",
            null),
        Arguments.of(
            "[valid] host with port", "127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1", null),
        Arguments.of(
            "[valid] port and no tag means latest",
            "registry.example:5000/a/b/c",
            "registry.example:5000",
            "a/b/c",
            "latest",
            null),
        Arguments.of(
            "[valid] localhost is a host", "localhost/app", "localhost", "app", "latest", null),
        Arguments.of("[valid] IPv6 host", "[::1]:5000/app:v2", "[::1]:5000", "app", "v2", null),
        Arguments.of(
            "[valid] digest only",
            "registry.example/app@sha256:" + HEX,
            "registry.example",
            "app",
            null,
            "sha256:" + HEX),
        Arguments.of(
            "[valid] tag and digest",
            "registry.example/app:v1@sha256:" + HEX,
            "registry.example",
            "app",
            "v1",
            "sha256:" + HEX),
        Arguments.of(
            "[valid] separators in repo",
            "registry.example/my_team/app-name.x__y",
            "registry.example",
            "my_team/app-name.x__y",
            "latest",
            null),
        Arguments.of(
            "[valid] uppercase first component is a host",
            "Registry/app",
            "Registry",
            "app",
            "latest",
            null),
        Arguments.of(
            "[valid] 128-char tag",
            "app:" + "t".repeat(128),
            "docker.io",
            "library/app",
            "t".repeat(128),
            null));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("valid")
  void parses(
      String name, String text, String registry, String repository, String tag, String digest) {
    ImageReference ref = ImageReference.parse(text);
    assertThat(ref.registry()).isEqualTo(registry);
    assertThat(ref.repository()).isEqualTo(repository);
    assertThat(ref.tag()).isEqualTo(tag);
    assertThat(ref.digest() == null ? null : ref.digest().toString()).isEqualTo(digest);
    // What it prints parses back to the same reference.
    assertThat(ImageReference.parse(ref.toString())).isEqualTo(ref);
  }

  static Stream<Arguments> invalid() {
    return Stream.of(
        Arguments.of("[invalid] empty", "", "image reference is empty"),
        Arguments.of(
            "[invalid] uppercase repository",
            "registry.example/Team/app",
            "repository \"Team/app\" must be lowercase"),
        Arguments.of("[invalid] uppercase docker hub repo", "team/App", "must be lowercase"),
        Arguments.of(
            "[invalid] digest algorithm", "app@md5:abc", "digest algorithm \"md5\" is not sha256"),
        Arguments.of(
            "[invalid] short digest", "app@sha256:abc", "does not have 64 lowercase hex digits"),
        Arguments.of(
            "[invalid] uppercase digest",
            "app@sha256:" + HEX.toUpperCase(),
            "does not have 64 lowercase hex digits"),
        Arguments.of(
            "[invalid] digest without algorithm", "app@" + HEX, "is not of the form algorithm:hex"),
        Arguments.of(
            "[invalid] tag too long",
            "app:" + "t".repeat(129),
            "tag is longer than 128 characters"),
        Arguments.of("[invalid] tag starting with dot", "app:.v1", "tag \".v1\""),
        Arguments.of(
            "[invalid] name too long",
            "registry.example/" + "a".repeat(300),
            "name is longer than 255 characters"),
        Arguments.of(
            "[invalid] double slash", "registry.example//app", "repository component \"\""),
        Arguments.of(
            "[invalid] trailing dash in repo",
            "registry.example/app-",
            "repository component \"app-\""),
        Arguments.of(
            "[invalid] port out of range", "registry.example:99999/app", "registry port \"99999\""),
        Arguments.of(
            "[invalid] bad host", "bad_host.example/app", "registry host \"bad_host.example\""),
        Arguments.of("[invalid] empty repo with tag", ":v1", "repository name is empty"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalid")
  void refuses(String name, String text, String problem) {
    assertThatThrownBy(() -> ImageReference.parse(text))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(problem);
  }

  @org.junit.jupiter.api.Test
  void manifestReferenceIsTheDigestWhenPinned() {
    assertThat(ImageReference.parse("r.example/app:v1").manifestReference()).isEqualTo("v1");
    assertThat(ImageReference.parse("r.example/app:v1@sha256:" + HEX).manifestReference())
        .isEqualTo("sha256:" + HEX);
  }
}
