package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LayerCompression;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A parsed manifest: either an image manifest or an image index (Docker: a manifest list). */
public sealed interface ManifestDocument permits ImageManifest, ImageIndex {
  /** Manifests larger than this are refused; real ones are a few kilobytes. */
  int MAX_BYTES = 4 * 1024 * 1024;

  /**
   * Layers an image may have: overlayfs stacks at most 500 lower directories (OVL_MAX_STACK), and
   * real images have a few dozen.
   */
  int MAX_LAYERS = 500;

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
    JsonNode version = root.get("schemaVersion");
    if (version == null) {
      throw new UnsupportedManifestException(
          "the manifest has no schemaVersion (only schema 2: OCI or Docker v2)");
    }
    if (version.asInt(-1) != 2) {
      throw new UnsupportedManifestException(
          "manifest schemaVersion "
              + shorten(version.toString())
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
      JsonNode entries = root.get("manifests");
      if (entries == null || !entries.isArray() || entries.isEmpty()) {
        throw new UnsupportedManifestException("the image index has no manifests");
      }
      List<Descriptor> manifests = new ArrayList<>();
      for (JsonNode d : entries) {
        Descriptor entry = descriptor(d, "index entry");
        if (entry.size() > MAX_BYTES) {
          throw new UnsupportedManifestException(
              "index entry "
                  + entry.digest()
                  + " gives a size of "
                  + entry.size()
                  + " bytes, more than the "
                  + MAX_BYTES
                  + " a manifest may have");
        }
        manifests.add(entry);
      }
      return new ImageIndex(mediaType, manifests);
    }
    if (MediaTypes.isImageManifest(mediaType)) {
      JsonNode configNode = root.get("config");
      if (configNode == null || !configNode.isObject()) {
        throw new UnsupportedManifestException("the image manifest has no config");
      }
      Descriptor config = descriptor(configNode, "config");
      if (config.size() > ImageConfig.MAX_BYTES) {
        throw new UnsupportedManifestException(
            "the config descriptor gives a size of "
                + config.size()
                + " bytes, more than the "
                + ImageConfig.MAX_BYTES
                + " an image config may have");
      }
      JsonNode layerNodes = root.get("layers");
      if (layerNodes == null || !layerNodes.isArray() || layerNodes.isEmpty()) {
        throw new UnsupportedManifestException("the image manifest has no layers");
      }
      if (layerNodes.size() > MAX_LAYERS) {
        throw new UnsupportedManifestException(
            "the image manifest has "
                + layerNodes.size()
                + " layers, more than the "
                + MAX_LAYERS
                + " an overlay mount can stack");
      }
      List<Descriptor> layers = new ArrayList<>();
      for (JsonNode d : layerNodes) {
        Descriptor layer = descriptor(d, "layer");
        if (layer.mediaType() != null && !LayerCompression.isLayerMediaType(layer.mediaType())) {
          throw new UnsupportedManifestException(
              "layer "
                  + layer.digest()
                  + " has media type "
                  + layer.mediaType()
                  + ", which is not a layer this node can unpack (a tar, plain, gzip or zstd)");
        }
        layers.add(layer);
      }
      return new ImageManifest(mediaType, config, layers);
    }
    throw new UnsupportedManifestException(
        "manifest media type " + shorten(mediaType) + " is not supported");
  }

  private static Descriptor descriptor(JsonNode d, String what)
      throws UnsupportedManifestException {
    if (!d.isObject()) {
      throw new UnsupportedManifestException("a " + what + " descriptor is not a JSON object");
    }
    String digest = d.path("digest").asText("");
    Digest parsed;
    try {
      parsed = Digest.parse(digest);
    } catch (IllegalArgumentException e) {
      throw new UnsupportedManifestException(
          what + " descriptor digest \"" + shorten(digest) + "\" is not a sha256 digest");
    }
    JsonNode sizeNode = d.get("size");
    if (sizeNode == null
        || !sizeNode.isIntegralNumber()
        || !sizeNode.canConvertToLong()
        || sizeNode.asLong() < 0) {
      throw new UnsupportedManifestException(
          what
              + " descriptor "
              + digest
              + " has no valid size (a whole number of bytes, at least 0): "
              + (sizeNode == null ? "none" : shorten(sizeNode.toString())));
    }
    long size = sizeNode.asLong();
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

  /** A value quoted in a message, cut short so that a hostile document cannot flood the log. */
  static String shorten(String value) {
    return value.length() <= 80
        ? value
        : value.substring(0, 80) + "... (" + value.length() + " chars)";
  }

  /** The JSON reader shared by the registry code. */
  final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}
  }
}
