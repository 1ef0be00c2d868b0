package io.layerns.system;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A TCP proxy whose answers flow at a set rate, like a slow network link: long enough to catch a
 * transfer in the middle. Pacing by sleeping is the point of it, not a way to wait in a test.
 */
final class ThrottledProxy implements AutoCloseable {
  private final ServerSocket server;
  private final ExecutorService pumps =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "throttled-proxy");
            t.setDaemon(true);
            return t;
          });

  ThrottledProxy(InetSocketAddress listen, InetSocketAddress target, long bytesPerSecond)
      throws IOException {
    server = new ServerSocket();
    server.bind(listen);
    pumps.execute(
        () -> {
          while (!server.isClosed()) {
            try {
              Socket client = server.accept();
              Socket upstream = new Socket(target.getAddress(), target.getPort());
              pumps.execute(() -> pump(client, upstream, Long.MAX_VALUE));
              pumps.execute(() -> pump(upstream, client, bytesPerSecond));
            } catch (IOException e) {
              return;
            }
          }
        });
  }

  int port() {
    return server.getLocalPort();
  }

  private static void pump(Socket from, Socket to, long rate) {
    byte[] buf = new byte[16 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      long start = System.nanoTime();
      long sent = 0;
      for (int n; (n = in.read(buf)) > 0; ) {
        out.write(buf, 0, n);
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
