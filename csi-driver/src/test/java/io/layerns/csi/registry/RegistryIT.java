package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pulls from Debian's docker-registry behind a real token service, and from an open one. */
class RegistryIT {
  private static final String USER = "alice";
  private static final String PASSWORD = "correct horse";

  @TempDir static Path shared;
  private static TokenServer tokens;
  private static RegistryServer registry;
  private static RegistryPusher pusher;

  @TempDir Path tmp;
  private LocalLayerStore store;
  private ImageImporter importer;

  @BeforeAll
  static void startRegistry() throws Exception {
    assumeTrue(Files.isExecutable(RegistryServer.BINARY), "needs Debian's docker-registry");
    tokens = TokenServer.start(Map.of(USER, PASSWORD), shared);
    registry = RegistryServer.start(Files.createDirectories(shared.resolve("registry")), tokens);
    pusher =
        new RegistryPusher(registry.url(), tokens.issue(USER, "repository:team/app:pull,push"));
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
    if (tokens != null) {
      tokens.close();
    }
  }

  @BeforeEach
  void openStore() throws IOException {
    store = LocalLayerStore.open(tmp.resolve("store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
  }

  @AfterEach
  void closeStore() throws IOException {
    store.close();
  }

  private static DockerConfig secret(String user, String password) {
    String auth =
        Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    return DockerConfig.fromSecret(
        Map.of(
            ".dockerconfigjson",
            "{\"auths\":{\"" + registry.host() + "\":{\"auth\":\"" + auth + "\"}}}"));
  }

  @Test
  void pullsAPushedImageWithTokenAuthIntoTheStore() throws Exception {
    TestImage image = TestImage.threeLayers("token", Platform.LINUX_AMD64);
    pusher.push("team/app", image, "v1");
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:v1");

    PulledImage pulled = importer.pull(ref, secret(USER, PASSWORD));

    assertThat(pulled.manifestDigest()).isEqualTo(image.manifestDigest());
    assertThat(pulled.configDigest()).isEqualTo(image.configDigest());
    assertThat(pulled.layers())
        .extracting(PulledImage.Layer::mediaType)
        .containsExactly(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar");
    for (TestImage.Layer layer : image.layers()) {
      Path dir = store.layer(layer.digest()).orElseThrow().directory();
      for (Map.Entry<String, String> f : layer.files().entrySet()) {
        assertThat(dir.resolve(f.getKey())).hasContent(f.getValue());
      }
      assertThat(store.layer(layer.digest()).orElseThrow().diffId()).isEqualTo(layer.diffId());
    }
    assertThat(importer.refs().lookup(ref)).contains(image.manifestDigest());
    // The token service saw alice's password and the pull scope the registry asked for.
    assertThat(tokens.requests()).contains(USER + " repository:team/app:pull");
  }

  @Test
  void pullsTheNodesPlatformFromAnIndexOfOciAndDockerManifests() throws Exception {
    TestImage amd64 = TestImage.threeLayers("multi-amd64", Platform.LINUX_AMD64);
    TestImage arm64 =
        new TestImage(
            Platform.parse("linux/arm64/v8"),
            TestImage.threeLayers("multi-arm64", Platform.parse("linux/arm64")).layers(),
            true);
    pusher.pushIndex("team/app", List.of(arm64, amd64), "multi");
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:multi");

    PulledImage onAmd = importer.pull(ref, secret(USER, PASSWORD));
    PulledImage onArm =
        new ImageImporter(store, importer.registryClient(), Platform.parse("linux/arm64"))
            .pull(ref, secret(USER, PASSWORD));

    assertThat(onAmd.manifestDigest()).isEqualTo(amd64.manifestDigest());
    assertThat(onArm.manifestDigest()).isEqualTo(arm64.manifestDigest());
    assertThat(onAmd.indexDigest()).isEqualTo(onArm.indexDigest()).isNotNull();
    assertThat(onArm.layers().getFirst().mediaType())
        .isEqualTo("application/vnd.docker.image.rootfs.diff.tar.gzip");
    assertThat(store.layer(arm64.layers().get(2).digest()).orElseThrow().directory())
        .isDirectoryContaining(p -> p.getFileName().toString().equals("app"));
    assertThat(
            store
                .layer(arm64.layers().get(2).digest())
                .orElseThrow()
                .directory()
                .resolve("app/arm64"))
        .hasContent("arch multi-arm64");
  }

  @Test
  void aWrongPasswordIsAnAuthenticationErrorNamingTheRegistry() throws Exception {
    pusher.push("team/app", TestImage.threeLayers("auth", Platform.LINUX_AMD64), "auth");
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:auth");

    assertThatThrownBy(() -> importer.pull(ref, secret(USER, "wrong")))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e -> assertThat(e.reason()).isEqualTo(Reason.AUTHENTICATION_FAILED))
        .hasMessageContaining(registry.host())
        .hasMessageContaining("authentication failed for user \"alice\"")
        .hasMessageContaining("401")
        .hasMessageNotContaining("wrong");
    assertThat(tokens.requests()).contains(USER + " rejected");
  }

  @Test
  void anonymousPullFromATokenRegistryIsAnAuthenticationError() throws Exception {
    pusher.push("team/app", TestImage.threeLayers("anon", Platform.LINUX_AMD64), "anon");
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:anon");

    assertThatThrownBy(() -> importer.pull(ref, DockerConfig.EMPTY))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e -> assertThat(e.reason()).isEqualTo(Reason.AUTHENTICATION_FAILED))
        .hasMessageContaining(registry.host())
        .hasMessageContaining("authentication failed (anonymous)");
  }

  @Test
  void aMissingTagIsNotFoundNotAnAuthError() {
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:no-such-tag");

    assertThatThrownBy(() -> importer.pull(ref, secret(USER, PASSWORD)))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.NOT_FOUND))
        .hasMessageContaining("manifest no-such-tag of team/app not found")
        .hasMessageContaining("MANIFEST_UNKNOWN");
  }

  @Test
  void aTamperedLayerIsRefusedAndNothingOfItIsVisible() throws Exception {
    TestImage image = TestImage.threeLayers("tampered-layer", Platform.LINUX_AMD64);
    pusher.push("team/app", image, "tampered-layer");
    TestImage.Layer plain = image.layers().get(2);
    // The uncompressed layer's first file's content starts after two 512-byte tar headers.
    registry.tamper(plain.digest(), 1024);
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:tampered-layer");

    assertThatThrownBy(() -> importer.pull(ref, secret(USER, PASSWORD)))
        .isInstanceOfSatisfying(
            FetchFailedException.class, e -> assertThat(e.reason()).isEqualTo(Reason.CORRUPT))
        .hasMessageContaining("layer " + plain.digest())
        .hasMessageContaining("the blob's content has digest");
    assertThat(store.hasBlob(plain.digest())).isFalse();
    assertThat(store.hasLayer(plain.digest())).isFalse();
    assertThat(importer.refs().lookup(ref)).isEmpty();
    assertTmpEmpty();
  }

  @Test
  void aTamperedConfigIsADigestMismatchAndIsNotStored() throws Exception {
    TestImage image = TestImage.threeLayers("tampered-config", Platform.LINUX_AMD64);
    pusher.push("team/app", image, "tampered-config");
    registry.tamper(image.configDigest(), 2);
    ImageReference ref = ImageReference.parse(registry.host() + "/team/app:tampered-config");

    assertThatThrownBy(() -> importer.pull(ref, secret(USER, PASSWORD)))
        .isInstanceOfSatisfying(
            FetchFailedException.class,
            e -> {
              assertThat(e.reason()).isEqualTo(Reason.CORRUPT);
              assertThat(e.attempts().getFirst().error())
                  .isInstanceOf(io.layerns.csi.store.DigestMismatchException.class);
            })
        .hasMessageContaining("config " + image.configDigest())
        .hasMessageContaining("has digest");
    assertThat(store.hasBlob(image.configDigest())).isFalse();
    assertTmpEmpty();
  }

  @Test
  void pullsAnonymouslyFromARegistryWithoutAuth() throws Exception {
    try (RegistryServer open = RegistryServer.start(tmp.resolve("open"), null)) {
      TestImage image = TestImage.threeLayers("open", Platform.LINUX_AMD64);
      TestImage docker = new TestImage(Platform.LINUX_AMD64, image.layers(), true);
      new RegistryPusher(open.url(), null).push("library/tool", docker, "1.0");
      ImageReference ref = ImageReference.parse(open.host() + "/library/tool:1.0");

      PulledImage pulled = importer.pull(ref, DockerConfig.EMPTY);

      assertThat(pulled.manifestDigest()).isEqualTo(docker.manifestDigest());
      assertThat(store.readBlob(pulled.manifestDigest(), 1 << 20)).isEqualTo(docker.manifest());
      for (TestImage.Layer layer : image.layers()) {
        assertThat(store.hasLayer(layer.digest())).isTrue();
      }
      // Pinned by digest, the image resolves again with no registry at all.
      open.close();
      assertThat(importer.findLocal(ImageReference.parse(open.host() + "/library/tool:1.0")))
          .hasValueSatisfying(p -> assertThat(p.layers()).hasSize(3));
      assertThat(
              importer.pull(
                  ImageReference.parse(open.host() + "/library/tool@" + docker.manifestDigest()),
                  DockerConfig.EMPTY))
          .extracting(PulledImage::configDigest)
          .isEqualTo(Digest.of(docker.config()));
    }
  }

  private void assertTmpEmpty() throws IOException {
    try (Stream<Path> litter = Files.list(store.root().resolve("tmp"))) {
      assertThat(litter).isEmpty();
    }
  }
}
