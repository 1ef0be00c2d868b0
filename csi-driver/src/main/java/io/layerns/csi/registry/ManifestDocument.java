package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A parsed manifest: either an image manifest or an image index (Docker: a manifest list). */
public sealed interface ManifestDocument permits ImageManifest, ImageIndex {
  /** Manifests larger than this are refused; real ones are a few kilobytes. */
  int MAX_BYTES = 4 * 1024 * 1024;

  /** The manifest's media type. */
  String mediaType();

  /**
   * Parses a manifest. The media type comes from the document's own {@code mediaType} field, else
   * from {@code contentType} (the HTTP header, may be null), else from its shape.
   *
   * @throws UnsupportedManifestException when it is not an OCI or Docker schema 2 manifest or index
   */
  static ManifestDocument parse(byte[] json, String contentType) throws IOException {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(json);
    } catch (IOException e) {
      throw new UnsupportedManifestException("the manifest is not valid JSON: " + e.getMessage());
    }
    if (root == null || !root.isObject()) {
      throw new UnsupportedManifestException("the manifest is not a JSON object");
    }
    int schemaVersion = root.path("schemaVersion").asInt(-1);
    if (schemaVersion != 2) {
      throw new UnsupportedManifestException(
          "manifest schemaVersion "
              + root.path("schemaVersion")
              + " is not supported (only schema 2: OCI or Docker v2)");
    }
    String mediaType = root.path("mediaType").asText(null);
    if (mediaType == null && contentType != null) {
      String ct = contentType.split(";", 2)[0].trim();
      if (MediaTypes.isIndex(ct) || MediaTypes.isImageManifest(ct)) {
        mediaType = ct;
      }
    }
    if (mediaType == null) {
      mediaType = root.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    }
    if (MediaTypes.isIndex(mediaType)) {
      List<Descriptor> manifests = new ArrayList<>();
      for (JsonNode d : root.path("manifests")) {
        manifests.add(descriptor(d));
      }
      return new ImageIndex(mediaType, manifests);
    }
    if (MediaTypes.isImageManifest(mediaType)) {
      if (!root.has("config")) {
        throw new UnsupportedManifestException("the image manifest has no config");
      }
      List<Descriptor> layers = new ArrayList<>();
      for (JsonNode d : root.path("layers")) {
        layers.add(descriptor(d));
      }
      return new ImageManifest(mediaType, descriptor(root.get("config")), layers);
    }
    throw new UnsupportedManifestException(
        "manifest media type " + mediaType + " is not supported");
  }

  private static Descriptor descriptor(JsonNode d) throws UnsupportedManifestException {
    String digest = d.path("digest").asText("");
    Digest parsed;
    try {
      parsed = Digest.parse(digest);
    } catch (IllegalArgumentException e) {
      throw new UnsupportedManifestException(
          "descriptor digest \"" + digest + "\" is not a sha256 digest");
    }
    long size = d.path("size").asLong(-1);
    if (size < 0) {
      throw new UnsupportedManifestException("descriptor " + digest + " has no valid size");
    }
    Platform platform = null;
    JsonNode p = d.get("platform");
    if (p != null && p.hasNonNull("os") && p.hasNonNull("architecture")) {
      String os = p.get("os").asText();
      String arch = p.get("architecture").asText();
      if (!os.isBlank() && !arch.isBlank()) {
        platform = new Platform(os, arch, p.path("variant").asText(null));
      }
    }
    Map<String, String> annotations = new HashMap<>();
    d.path("annotations")
        .properties()
        .forEach(e -> annotations.put(e.getKey(), e.getValue().asText()));
    return new Descriptor(d.path("mediaType").asText(null), parsed, size, platform, annotations);
  }

  /** The JSON reader shared by the registry code. */
  final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}
  }
}
