package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of an image config the node needs: the layers' diff IDs, to verify each unpacked layer.
 *
 * @param diffIds the uncompressed layer digests, lowest layer first
 */
public record ImageConfig(List<Digest> diffIds) {
  /** Configs larger than this are refused. */
  public static final int MAX_BYTES = 16 * 1024 * 1024;

  public ImageConfig {
    diffIds = List.copyOf(diffIds);
  }

  /**
   * Parses an OCI or Docker image config.
   *
   * @throws UnsupportedManifestException when it is not JSON or has no usable rootfs.diff_ids
   */
  public static ImageConfig parse(byte[] json) throws IOException {
    JsonNode root;
    try {
      root = ManifestDocument.Json.MAPPER.readTree(json);
    } catch (IOException e) {
      throw new UnsupportedManifestException(
          "the image config is not valid JSON: " + e.getMessage());
    }
    JsonNode ids = root == null ? null : root.path("rootfs").get("diff_ids");
    if (ids == null || !ids.isArray()) {
      throw new UnsupportedManifestException("the image config has no rootfs.diff_ids");
    }
    List<Digest> diffIds = new ArrayList<>();
    for (JsonNode id : ids) {
      try {
        diffIds.add(Digest.parse(id.asText()));
      } catch (IllegalArgumentException e) {
        throw new UnsupportedManifestException(
            "the image config's diff ID \"" + id.asText() + "\" is not a sha256 digest");
      }
    }
    return new ImageConfig(diffIds);
  }
}
