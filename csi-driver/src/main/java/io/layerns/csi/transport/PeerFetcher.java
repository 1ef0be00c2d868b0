package io.layerns.csi.transport;

import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.identity.PeerKeys;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.StoredLayer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * Fetches layers, manifests and configs from peer nodes' HTTP exports, in the order given, and
 * falls back to other sources (the registry) when every peer fails. A peer that cannot be reached,
 * does not hold the content, or sends bytes that do not match the digest is skipped; what it sent
 * never becomes visible.
 *
 * <p>An interrupted fetch is not resumed with a Range request: the store discards partial downloads
 * (its tmp/ is emptied on open), so a restart fetches the blob again from the start.
 */
public final class PeerFetcher {
  private final ImageImporter importer;
  private final HttpClient http;
  private final Duration timeout;

  /**
   * @param importer the importer whose store receives the content and whose in-flight downloads are
   *     shared
   * @param http the client for peers; see {@link #httpClient(InetAddress, KeyPair, PeerKeys)}
   */
  public PeerFetcher(ImageImporter importer, HttpClient http, Duration timeout) {
    this.importer = importer;
    this.http = http;
    this.timeout = timeout;
  }

  /**
   * The client for peers' exports: TLS with this node's own key, which peers' exports ask for, to
   * peers whose key is the one their member published ({@link NodeTls}); its connections leave from
   * {@code localAddress} (null: any), so that peers' allow-lists see this node's own address.
   */
  public static HttpClient httpClient(InetAddress localAddress, KeyPair nodeKey, PeerKeys peers) {
    return httpClient(localAddress, Optional.of(nodeKey), peers);
  }

  /**
   * As {@link #httpClient(InetAddress, KeyPair, PeerKeys)}, presenting no key when {@code nodeKey}
   * is empty (as a client that is no node would).
   */
  public static HttpClient httpClient(
      InetAddress localAddress, Optional<KeyPair> nodeKey, PeerKeys peers) {
    SSLContext tls = NodeTls.client(nodeKey, peers);
    SSLParameters params = tls.getDefaultSSLParameters();
    params.setProtocols(new String[] {NodeTls.PROTOCOL});
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(5))
            .followRedirects(HttpClient.Redirect.NEVER)
            .version(HttpClient.Version.HTTP_1_1)
            .sslContext(tls)
            .sslParameters(params);
    if (localAddress != null) {
      b.localAddress(localAddress);
    }
    return b.build();
  }

  /** The importer whose store receives what is fetched. */
  public ImageImporter importer() {
    return importer;
  }

  /** The client peers are asked with, for other reads of their exports. */
  public HttpClient http() {
    return http;
  }

  /** How long a peer may take to answer. */
  public Duration timeout() {
    return timeout;
  }

  /** The peers as sources, in order, followed by {@code fallbacks}. */
  public List<ContentSource> sources(List<URI> peers, List<ContentSource> fallbacks) {
    List<ContentSource> all = new ArrayList<>();
    for (URI peer : peers) {
      all.add(new PeerSource(peer, http, timeout));
    }
    all.addAll(fallbacks);
    return all;
  }

  /**
   * Brings a layer into the store from the first peer that serves it intact, else from the
   * fallbacks.
   *
   * @param diffId the layer's diff ID when known (verified), else null
   * @throws io.layerns.csi.registry.FetchFailedException listing every peer and fallback tried, and
   *     why each failed
   */
  public StoredLayer fetchLayer(
      Digest digest,
      Digest diffId,
      String mediaType,
      List<URI> peers,
      List<ContentSource> fallbacks)
      throws IOException {
    return importer.fetchLayer(digest, diffId, mediaType, -1, sources(peers, fallbacks));
  }

  /** Brings a blob (a manifest or config) into the store; see {@link #fetchLayer}. */
  public long fetchBlob(Digest digest, List<URI> peers, List<ContentSource> fallbacks)
      throws IOException {
    return importer.fetchBlob(digest, -1, sources(peers, fallbacks));
  }

  /**
   * Brings a whole image into the store. Pinned by digest, every piece comes from peers when they
   * hold it, so no registry is needed; a tag is resolved by the fallbacks only.
   */
  public PulledImage fetchImage(
      ImageReference image, List<URI> peers, List<ContentSource> fallbacks) throws IOException {
    return importer.pull(image, sources(peers, fallbacks));
  }
}
