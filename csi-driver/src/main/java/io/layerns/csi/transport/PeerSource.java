package io.layerns.csi.transport;

import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.FetchedManifest;
import io.layerns.csi.registry.ManifestDocument;
import io.layerns.csi.registry.MediaTypes;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.registry.RegistryException.Reason;
import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * A peer node's HTTP export as a content source: blobs and manifests by digest only, since a peer's
 * tags are whatever it last pulled and may be stale.
 */
public final class PeerSource implements ContentSource {
  /** Any repository name reaches any blob on a peer; this one says who is asking. */
  private static final String NAME = "layerns";

  private final URI base;
  private final HttpClient http;
  private final Duration timeout;

  /**
   * @param base the peer export's base URL, such as {@code http://10.0.0.7:5001}
   * @param timeout how long to wait for a response's headers
   */
  public PeerSource(URI base, HttpClient http, Duration timeout) {
    this.base = base;
    this.http = http;
    this.timeout = timeout;
  }

  @Override
  public String describe() {
    return "peer " + base;
  }

  @Override
  public boolean resolvesTags() {
    return false;
  }

  @Override
  public FetchedManifest fetchManifest(String reference) throws IOException {
    HttpResponse<InputStream> response =
        get("/manifests/" + reference, String.join(", ", MediaTypes.MANIFESTS));
    try (InputStream body = response.body()) {
      check(response, "manifest " + reference);
      byte[] bytes = body.readNBytes(ManifestDocument.MAX_BYTES + 1);
      if (bytes.length > ManifestDocument.MAX_BYTES) {
        throw new RegistryException(
            Reason.CORRUPT, describe(), 200, "manifest " + reference + " is too large");
      }
      return new FetchedManifest(
          Digest.of(bytes), response.headers().firstValue("Content-Type").orElse(null), bytes);
    }
  }

  @Override
  public InputStream openBlob(Digest digest) throws IOException {
    HttpResponse<InputStream> response = get("/blobs/" + digest, null);
    if (response.statusCode() != 200) {
      try (InputStream body = response.body()) {
        check(response, "blob " + digest);
      }
    }
    return response.body();
  }

  private HttpResponse<InputStream> get(String tail, String accept) throws IOException {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(base + "/v2/" + NAME + tail))
            .timeout(timeout)
            .version(HttpClient.Version.HTTP_1_1)
            .GET();
    if (accept != null) {
      b.header("Accept", accept);
    }
    try {
      return http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while calling " + describe());
    } catch (IOException e) {
      throw new RegistryException(Reason.UNAVAILABLE, describe(), "could not be reached: " + e, e);
    }
  }

  private void check(HttpResponse<InputStream> response, String what) throws IOException {
    int status = response.statusCode();
    if (status == 200) {
      return;
    }
    Reason reason =
        switch (status) {
          case 404 -> Reason.NOT_FOUND;
          case 401, 403 -> Reason.AUTHENTICATION_FAILED;
          default -> status >= 500 ? Reason.UNAVAILABLE : Reason.PROTOCOL;
        };
    String message =
        switch (status) {
          case 404 -> what + " not held there";
          case 403 -> "refused " + what + " (403): this node is not on its allow-list";
          default -> "answered " + status + " for " + what;
        };
    throw new RegistryException(reason, describe(), status, message);
  }

  @Override
  public String toString() {
    return describe();
  }
}
