package io.layerns.system;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A TCP proxy that can be shut like a gate, as a server that goes away: while shut, connections are
 * refused and open ones are cut. The chaos test keeps the registry behind it, so that a layer with
 * no copy left cannot quietly come back from the registry.
 */
final class GatedProxy implements AutoCloseable {
  private final InetSocketAddress listen;
  private final InetSocketAddress target;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final ExecutorService pumps =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "gated-proxy");
            t.setDaemon(true);
            return t;
          });
  private ServerSocket server;

  /** A shut gate on {@code listen}'s address, on a free port that stays its own. */
  GatedProxy(InetSocketAddress listen, InetSocketAddress target) throws IOException {
    this.target = target;
    try (ServerSocket probe = new ServerSocket()) {
      probe.setReuseAddress(true);
      probe.bind(listen);
      this.listen = new InetSocketAddress(listen.getAddress(), probe.getLocalPort());
    }
  }

  int port() {
    return listen.getPort();
  }

  /** Lets connections through. */
  synchronized void open() throws IOException {
    if (server != null) {
      return;
    }
    ServerSocket s = new ServerSocket();
    s.setReuseAddress(true);
    s.bind(listen);
    server = s;
    pumps.execute(
        () -> {
          while (!s.isClosed()) {
            try {
              Socket client = s.accept();
              Socket upstream = new Socket(target.getAddress(), target.getPort());
              open.add(client);
              open.add(upstream);
              pumps.execute(() -> pump(client, upstream));
              pumps.execute(() -> pump(upstream, client));
            } catch (IOException e) {
              return;
            }
          }
        });
  }

  /** Refuses new connections and cuts the open ones. */
  synchronized void shut() throws IOException {
    if (server == null) {
      return;
    }
    server.close();
    server = null;
    for (Socket s : open) {
      s.close();
    }
    open.clear();
  }

  private void pump(Socket from, Socket to) {
    byte[] buf = new byte[16 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      for (int n; (n = in.read(buf)) > 0; ) {
        out.write(buf, 0, n);
      }
    } catch (IOException e) {
      // one side closed or the gate shut: the connection is over
    } finally {
      try {
        to.close();
        from.close();
      } catch (IOException ignored) {
        // already closed
      }
      open.remove(from);
      open.remove(to);
    }
  }

  @Override
  public void close() throws IOException {
    shut();
    pumps.shutdownNow();
  }
}
