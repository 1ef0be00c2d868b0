package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An OCI image layout on disk ({@code oci-layout}, {@code index.json}, {@code blobs/sha256/...}),
 * read as a content source; tags are the {@code org.opencontainers.image.ref.name} annotations.
 */
public final class LayoutSource implements ContentSource {
  static final String REF_NAME = "org.opencontainers.image.ref.name";

  private final Path dir;

  /**
   * @throws IOException when {@code dir} has no {@code index.json}
   */
  public LayoutSource(Path dir) throws IOException {
    if (!Files.isRegularFile(dir.resolve("index.json"))) {
      throw new NoSuchFileException(
          dir.resolve("index.json").toString(), null, "not an OCI layout");
    }
    this.dir = dir;
  }

  @Override
  public String describe() {
    return "layout " + dir;
  }

  /**
   * Reads a manifest by digest, or the manifest {@code index.json} names by tag: an entry whose ref
   * name is the tag, or ends with {@code :tag} (some tools write whole references); the reference
   * {@code ""} picks the only entry of a one-image layout.
   */
  @Override
  public FetchedManifest fetchManifest(String reference) throws IOException {
    Digest digest;
    if (reference.startsWith("sha256:")) {
      digest = Digest.parse(reference);
    } else {
      digest = entryFor(reference).digest();
    }
    byte[] bytes;
    try (InputStream in = openBlob(digest)) {
      bytes = in.readNBytes(ManifestDocument.MAX_BYTES + 1);
    }
    if (bytes.length > ManifestDocument.MAX_BYTES) {
      throw new UnsupportedManifestException(
          "manifest " + digest + " is larger than " + ManifestDocument.MAX_BYTES + " bytes");
    }
    return new FetchedManifest(Digest.of(bytes), null, bytes);
  }

  @Override
  public InputStream openBlob(Digest digest) throws IOException {
    Path blob = dir.resolve("blobs").resolve("sha256").resolve(digest.hex());
    try {
      return Files.newInputStream(blob);
    } catch (NoSuchFileException e) {
      throw new RegistryException(
          Reason.NOT_FOUND, describe(), 404, "blob " + digest + " is not in the layout");
    }
  }

  private Descriptor entryFor(String tag) throws IOException {
    byte[] index = Files.readAllBytes(dir.resolve("index.json"));
    JsonNode root = ManifestDocument.Json.MAPPER.readTree(index);
    List<JsonNode> entries = new ArrayList<>();
    root.path("manifests").forEach(entries::add);
    List<String> names = new ArrayList<>();
    JsonNode match = null;
    for (JsonNode e : entries) {
      String name = e.path("annotations").path(REF_NAME).asText("");
      names.add(name);
      if (!tag.isEmpty() && (name.equals(tag) || name.endsWith(":" + tag))) {
        match = e;
        break;
      }
    }
    if (match == null && tag.isEmpty() && entries.size() == 1) {
      match = entries.getFirst();
    }
    if (match == null) {
      throw new RegistryException(
          Reason.NOT_FOUND,
          describe(),
          404,
          (tag.isEmpty() ? "no single image" : "no image named \"" + tag + "\"")
              + " in index.json (ref names: "
              + names
              + ")");
    }
    String digest = match.path("digest").asText("");
    try {
      return new Descriptor(
          match.path("mediaType").asText(null),
          Digest.parse(digest),
          match.path("size").asLong(),
          null,
          null);
    } catch (IllegalArgumentException e) {
      throw new UnsupportedManifestException(
          "index.json entry digest \"" + digest + "\" is not a sha256 digest");
    }
  }
}
