package io.layerns.system;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.SocketFactory;
import javax.net.ssl.SSLContext;

/**
 * A TCP proxy whose answers flow at a set rate, like a slow network link: long enough to catch a
 * transfer in the middle. Pacing by sleeping is the point of it, not a way to wait in a test. It
 * keeps every byte it relays, both ways, as someone on the path between two nodes could; it can
 * also end TLS and speak it onward, as a man in the middle with a certificate of its own.
 */
final class ThrottledProxy implements AutoCloseable {
  private final ServerSocket server;
  private final java.io.ByteArrayOutputStream wire = new java.io.ByteArrayOutputStream();
  private final ExecutorService pumps =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "throttled-proxy");
            t.setDaemon(true);
            return t;
          });

  ThrottledProxy(InetSocketAddress listen, InetSocketAddress target, long bytesPerSecond)
      throws IOException {
    this(new ServerSocket(), listen, SocketFactory.getDefault(), target, null, bytesPerSecond);
  }

  /**
   * @param server an unbound server socket (a TLS one to terminate TLS)
   * @param upstream makes the connections to {@code target} (a TLS one to speak TLS onward)
   * @param upstreamFrom the address connections to {@code target} leave from (null: any), as a
   *     router on the path keeps the client's address
   */
  private ThrottledProxy(
      ServerSocket server,
      InetSocketAddress listen,
      SocketFactory upstream,
      InetSocketAddress target,
      InetAddress upstreamFrom,
      long bytesPerSecond)
      throws IOException {
    this.server = server;
    server.bind(listen);
    pumps.execute(
        () -> {
          while (!server.isClosed()) {
            try {
              Socket client = server.accept();
              Socket onward =
                  upstream.createSocket(target.getAddress(), target.getPort(), upstreamFrom, 0);
              pumps.execute(() -> pump(client, onward, Long.MAX_VALUE));
              pumps.execute(() -> pump(onward, client, bytesPerSecond));
            } catch (IOException e) {
              return;
            }
          }
        });
  }

  /** A relay at full speed whose connections to {@code target} leave from {@code upstreamFrom}. */
  static ThrottledProxy unthrottled(
      InetSocketAddress listen, InetSocketAddress target, InetAddress upstreamFrom)
      throws IOException {
    return new ThrottledProxy(
        new ServerSocket(),
        listen,
        SocketFactory.getDefault(),
        target,
        upstreamFrom,
        Long.MAX_VALUE);
  }

  /**
   * A man in the middle at full speed: it ends its clients' TLS with {@code asServer} (its own
   * certificate) and speaks TLS onward to {@code target} with {@code asClient}, so that it would
   * record the plain bytes of whatever a client let it relay.
   */
  static ThrottledProxy intercepting(
      InetSocketAddress listen,
      InetSocketAddress target,
      InetAddress upstreamFrom,
      SSLContext asServer,
      SSLContext asClient)
      throws IOException {
    return new ThrottledProxy(
        asServer.getServerSocketFactory().createServerSocket(),
        listen,
        asClient.getSocketFactory(),
        target,
        upstreamFrom,
        Long.MAX_VALUE);
  }

  int port() {
    return server.getLocalPort();
  }

  /** Every byte relayed so far, in either direction. */
  byte[] recorded() {
    synchronized (wire) {
      return wire.toByteArray();
    }
  }

  private void pump(Socket from, Socket to, long rate) {
    byte[] buf = new byte[16 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      long start = System.nanoTime();
      long sent = 0;
      for (int n; (n = in.read(buf)) > 0; ) {
        out.write(buf, 0, n);
        synchronized (wire) {
          wire.write(buf, 0, n);
        }
        sent += n;
        long due = start + sent * 1_000_000_000L / rate - System.nanoTime();
        if (rate != Long.MAX_VALUE && due > 0) {
          Thread.sleep(due / 1_000_000, (int) (due % 1_000_000));
        }
      }
    } catch (IOException | InterruptedException e) {
      // the other side closed: the connection is over
    } finally {
      try {
        to.close();
        from.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    pumps.shutdownNow();
  }
}
