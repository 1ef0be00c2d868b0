package io.layerns.csi.registry;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/** The TLS trust of one registry: the system's CAs plus its own, or no check (skip_verify). */
final class RegistryTls {
  private RegistryTls() {}

  static SSLContext context(RegistryHosts.Host host) throws IOException {
    try {
      SSLContext tls = SSLContext.getInstance("TLS");
      TrustManager trust = host.skipVerify() ? new TrustingAnyone() : withCas(host);
      tls.init(null, new TrustManager[] {trust}, null);
      return tls;
    } catch (GeneralSecurityException e) {
      throw new IOException("could not set up TLS for " + host.server() + ": " + e, e);
    }
  }

  private static TrustManager withCas(RegistryHosts.Host host)
      throws IOException, GeneralSecurityException {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    TrustManagerFactory system =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    system.init((KeyStore) null);
    int n = 0;
    for (TrustManager tm : system.getTrustManagers()) {
      if (tm instanceof X509TrustManager x509) {
        for (X509Certificate c : x509.getAcceptedIssuers()) {
          store.setCertificateEntry("system-" + n++, c);
        }
      }
    }
    CertificateFactory x509 = CertificateFactory.getInstance("X.509");
    for (Path file : host.caFiles()) {
      int found = 0;
      try (InputStream in = Files.newInputStream(file)) {
        for (Certificate c : x509.generateCertificates(in)) {
          store.setCertificateEntry("ca-" + n++, c);
          found++;
        }
      } catch (java.security.cert.CertificateException e) {
        throw new IOException("CA file " + file + " is not PEM certificates: " + e.getMessage(), e);
      }
      if (found == 0) {
        throw new IOException("CA file " + file + " holds no certificate");
      }
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    return tmf.getTrustManagers()[0];
  }

  /**
   * Accepts any chain and host name. An {@link X509ExtendedTrustManager}: JSSE checks the host name
   * itself around a plain {@link X509TrustManager}, which skip_verify must not do.
   */
  private static final class TrustingAnyone extends X509ExtendedTrustManager {
    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {}

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) {}

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }
}
