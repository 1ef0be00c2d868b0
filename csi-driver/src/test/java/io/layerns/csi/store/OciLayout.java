package io.layerns.csi.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/** Writes a one-image OCI image layout on disk, as {@code umoci} and {@code skopeo} read it. */
final class OciLayout {
  private OciLayout() {}

  /**
   * Writes the image with the given layers (lowest first) under {@code dir}, tagged {@code tag}.
   */
  static void write(Path dir, String tag, List<TestLayer> layers) throws IOException {
    Files.createDirectories(dir.resolve("blobs/sha256"));
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    for (TestLayer l : layers) {
      blob(dir, l.blob());
    }
    String config =
        """
        {"architecture":"amd64","os":"linux","config":{},\
        "rootfs":{"type":"layers","diff_ids":[%s]}}"""
            .formatted(
                layers.stream()
                    .map(l -> "\"" + l.diffId() + "\"")
                    .collect(Collectors.joining(",")));
    byte[] configBytes = config.getBytes(StandardCharsets.UTF_8);
    blob(dir, configBytes);
    String manifest =
        """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},\
        "layers":[%s]}"""
            .formatted(
                Digest.of(configBytes),
                configBytes.length,
                layers.stream()
                    .map(
                        l ->
                            "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}"
                                .formatted(l.mediaType(), l.digest(), l.blob().length))
                    .collect(Collectors.joining(",")));
    byte[] manifestBytes = manifest.getBytes(StandardCharsets.UTF_8);
    blob(dir, manifestBytes);
    Files.writeString(
        dir.resolve("index.json"),
        """
        {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",\
        "digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}"""
            .formatted(Digest.of(manifestBytes), manifestBytes.length, tag));
  }

  private static void blob(Path dir, byte[] content) throws IOException {
    Files.write(dir.resolve("blobs/sha256/" + Digest.of(content).hex()), content);
  }
}
