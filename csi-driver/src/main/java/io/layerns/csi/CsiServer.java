package io.layerns.csi;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A gRPC server on a Unix domain socket, as the kubelet and the CSI sidecars expect. */
public final class CsiServer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CsiServer.class);

  /** In-flight calls get this long to finish on close, then they are cancelled. */
  private static final long GRACE_SECONDS = 5;

  private final Path socket;
  private final Server server;
  private final EventLoopGroup group;

  private CsiServer(Path socket, Server server, EventLoopGroup group) {
    this.socket = socket;
    this.server = server;
    this.group = group;
  }

  /**
   * Listens on {@code socket}, replacing a socket file left by a previous run, and serves {@code
   * services} with every call logged.
   */
  public static CsiServer start(Path socket, List<BindableService> services) throws IOException {
    Epoll.ensureAvailability();
    removeStaleSocket(socket);
    Files.createDirectories(socket.toAbsolutePath().getParent());
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
            .channelType(EpollServerDomainSocketChannel.class)
            .bossEventLoopGroup(group)
            .workerEventLoopGroup(group);
    CallLogger logger = new CallLogger();
    for (BindableService s : services) {
      builder.addService(ServerInterceptors.intercept(s, logger));
    }
    try {
      Server server = builder.build().start();
      LOG.info("serving {} on {}", services.stream().map(CsiServer::name).toList(), socket);
      return new CsiServer(socket, server, group);
    } catch (IOException | RuntimeException e) {
      group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      throw e;
    }
  }

  public Path socket() {
    return socket;
  }

  /** Why the kubelet cannot call this server, or null when it can. */
  public String notServingReason() {
    if (server.isShutdown()) {
      return "CSI server on " + socket + " stopped";
    }
    return Files.exists(socket) ? null : "CSI socket " + socket + " is gone";
  }

  /** Stops accepting calls, lets running ones finish for a bounded time, removes the socket. */
  @Override
  public void close() throws IOException {
    server.shutdown();
    try {
      if (!server.awaitTermination(GRACE_SECONDS, TimeUnit.SECONDS)) {
        server.shutdownNow().awaitTermination(GRACE_SECONDS, TimeUnit.SECONDS);
      }
      group
          .shutdownGracefully(0, GRACE_SECONDS, TimeUnit.SECONDS)
          .await(GRACE_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    } finally {
      Files.deleteIfExists(socket);
      LOG.info("stopped serving on {}", socket);
    }
  }

  private static void removeStaleSocket(Path socket) throws IOException {
    if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    BasicFileAttributes a =
        Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (!a.isOther()) {
      // Only a socket is ours to replace; a file or folder there is a configuration mistake.
      throw new IOException(socket + " exists and is not a socket");
    }
    LOG.info("removing stale socket {}", socket);
    Files.delete(socket);
  }

  private static String name(BindableService s) {
    return s.bindService().getServiceDescriptor().getName();
  }
}
