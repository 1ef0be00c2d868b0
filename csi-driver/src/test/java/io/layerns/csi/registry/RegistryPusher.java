package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

/**
 * Pushes test images with the Distribution API's monolithic upload (POST, then PUT with {@code
 * ?digest=}), then the manifest; with a token when the registry wants one.
 */
public final class RegistryPusher {
  private final HttpClient http = HttpClient.newHttpClient();
  private final String baseUrl;
  private final String authorization;

  /**
   * @param bearerToken a token with push access, or null for an anonymous registry
   */
  public RegistryPusher(String baseUrl, String bearerToken) {
    this.baseUrl = baseUrl;
    this.authorization = bearerToken == null ? null : "Bearer " + bearerToken;
  }

  /** Pushes the image's blobs and its manifest under {@code tag} (a tag or its digest). */
  public void push(String repository, TestImage image, String tag) throws Exception {
    for (Map.Entry<Digest, byte[]> blob : image.blobs().entrySet()) {
      uploadBlob(repository, blob.getKey(), blob.getValue());
    }
    putManifest(repository, tag, image.manifestMediaType(), image.manifest());
  }

  /** Pushes every image by digest, then an index over them under {@code tag}. */
  public void pushIndex(String repository, List<TestImage> images, String tag) throws Exception {
    for (TestImage i : images) {
      push(repository, i, i.manifestDigest().toString());
    }
    putManifest(repository, tag, MediaTypes.OCI_INDEX, TestImage.index(images));
  }

  public void uploadBlob(String repository, Digest digest, byte[] content) throws Exception {
    HttpResponse<String> start =
        send(
            request(URI.create(baseUrl + "/v2/" + repository + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
    expect(start, 202);
    URI location =
        URI.create(baseUrl).resolve(start.headers().firstValue("Location").orElseThrow());
    String sep = location.getRawQuery() == null ? "?" : "&";
    HttpResponse<String> put =
        send(
            request(URI.create(location + sep + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(content)));
    expect(put, 201);
  }

  public void putManifest(String repository, String tag, String mediaType, byte[] manifest)
      throws Exception {
    HttpResponse<String> put =
        send(
            request(URI.create(baseUrl + "/v2/" + repository + "/manifests/" + tag))
                .header("Content-Type", mediaType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(manifest)));
    expect(put, 201);
  }

  private HttpRequest.Builder request(URI uri) {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).version(HttpClient.Version.HTTP_1_1);
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return b;
  }

  private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static void expect(HttpResponse<String> response, int status) throws IOException {
    if (response.statusCode() != status) {
      throw new IOException(
          response.request().method()
              + " "
              + response.request().uri()
              + " answered "
              + response.statusCode()
              + ": "
              + response.body());
    }
  }
}
