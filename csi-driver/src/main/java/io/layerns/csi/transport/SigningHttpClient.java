package io.layerns.csi.transport;

import io.layerns.csi.identity.SignedRequests;
import java.io.IOException;
import java.net.Authenticator;
import java.net.CookieHandler;
import java.net.ProxySelector;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * An HTTP client for peers' exports that signs every request with this node's own key ({@link
 * SignedRequests}), so that every read of a peer's export, whoever makes it, proves the node.
 */
final class SigningHttpClient extends HttpClient {
  private final HttpClient delegate;
  private final KeyPair key;
  private final Clock clock;

  SigningHttpClient(HttpClient delegate, KeyPair key, Clock clock) {
    this.delegate = delegate;
    this.key = key;
    this.clock = clock;
  }

  private HttpRequest signed(HttpRequest request) {
    String path = request.uri().getRawPath();
    if (request.uri().getRawQuery() != null) {
      path += "?" + request.uri().getRawQuery();
    }
    HttpRequest.Builder b = HttpRequest.newBuilder(request, (name, value) -> true);
    SignedRequests.headers(key, request.method(), path, clock.instant()).forEach(b::setHeader);
    return b.build();
  }

  @Override
  public <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler)
      throws IOException, InterruptedException {
    return delegate.send(signed(request), handler);
  }

  @Override
  public <T> CompletableFuture<HttpResponse<T>> sendAsync(
      HttpRequest request, HttpResponse.BodyHandler<T> handler) {
    return delegate.sendAsync(signed(request), handler);
  }

  @Override
  public <T> CompletableFuture<HttpResponse<T>> sendAsync(
      HttpRequest request,
      HttpResponse.BodyHandler<T> handler,
      HttpResponse.PushPromiseHandler<T> push) {
    return delegate.sendAsync(signed(request), handler, push);
  }

  @Override
  public Optional<CookieHandler> cookieHandler() {
    return delegate.cookieHandler();
  }

  @Override
  public Optional<Duration> connectTimeout() {
    return delegate.connectTimeout();
  }

  @Override
  public Redirect followRedirects() {
    return delegate.followRedirects();
  }

  @Override
  public Optional<ProxySelector> proxy() {
    return delegate.proxy();
  }

  @Override
  public SSLContext sslContext() {
    return delegate.sslContext();
  }

  @Override
  public SSLParameters sslParameters() {
    return delegate.sslParameters();
  }

  @Override
  public Optional<Authenticator> authenticator() {
    return delegate.authenticator();
  }

  @Override
  public Version version() {
    return delegate.version();
  }

  @Override
  public Optional<Executor> executor() {
    return delegate.executor();
  }
}
