package io.layerns.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A real S3 server for the cold tier's tests: s3proxy (Maven Central {@code org.gaul:s3proxy}, its
 * self-contained jar, which test-support's build copies into the cache's {@code bin/}) in a process
 * of its own on 127.0.0.1, with its filesystem backend and one access key (AWS signatures v2 and v4
 * checked). Each bucket is a folder of the data folder and each object a file in it, so a test can
 * delete or corrupt an object behind the server's back, as rot or an operator's mistake would.
 * {@link #stop()} and {@link #resume()} take the server down and bring it back on the same port
 * with the same data.
 */
public final class S3Server implements AutoCloseable {
  private static final String DEFAULT_VERSION = "4.1.0";

  private final Path jar;
  private final Path dir;
  private final Path data;
  private final int port;
  private final String accessKey = "layerns-test";
  private final String secretKey = UUID.randomUUID().toString();
  private ManagedProcess process;

  private S3Server(Path jar, Path dir, int port) {
    this.jar = jar;
    this.dir = dir;
    this.data = dir.resolve("data");
    this.port = port;
  }

  /** Starts a server with an empty data folder in a new temp folder. */
  public static S3Server start(Path binDir) {
    String version = System.getProperty("layerns.s3proxy.version", DEFAULT_VERSION);
    Path jar = binDir.resolve("s3proxy-" + version + ".jar");
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(
          jar
              + " not found: the build of test-support copies it there (mvn -pl test-support"
              + " generate-resources)");
    }
    try {
      S3Server server = new S3Server(jar, Files.createTempDirectory("layerns-s3"), freePort());
      Files.createDirectories(server.data);
      Runtime.getRuntime().addShutdownHook(new Thread(server::close, "s3server-stop"));
      server.resume();
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Starts a server from the default binaries folder ({@link ControlPlane#defaultBinDir()}). */
  public static S3Server start() {
    return start(ControlPlane.defaultBinDir());
  }

  /** Starts the server (again, after {@link #stop()}) on its port, with its data. */
  public synchronized void resume() throws IOException {
    if (process != null && process.isAlive()) {
      return;
    }
    Path conf = dir.resolve("s3proxy.conf");
    Files.writeString(
        conf,
        String.join(
            "\n",
            "s3proxy.endpoint=" + endpoint(),
            "s3proxy.authorization=aws-v2-or-v4",
            "s3proxy.identity=" + accessKey,
            "s3proxy.credential=" + secretKey,
            "jclouds.provider=filesystem",
            "jclouds.filesystem.basedir=" + data,
            ""));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    process =
        ManagedProcess.start(
            "s3proxy",
            List.of(java, "-Xmx256m", "-jar", jar.toString(), "--properties", conf.toString()),
            dir.resolve("s3proxy.log"));
    awaitListening();
  }

  /** Stops the server (its data stays): requests then fail as with a server that is down. */
  public synchronized void stop() {
    if (process != null) {
      process.close();
      process = null;
    }
  }

  private void awaitListening() throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("s3proxy exited while starting:\n" + process.logTail(30));
      }
      // It opens its port only once its handlers are in place (Jetty starts last).
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while s3proxy starts", e);
        }
      }
    }
    throw new IOException(
        "s3proxy did not listen on " + endpoint() + " within 60 s:\n" + process.logTail(30));
  }

  /** The endpoint URL, {@code http://127.0.0.1:<port>}. */
  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port);
  }

  public String accessKey() {
    return accessKey;
  }

  public String secretKey() {
    return secretKey;
  }

  /** Makes a bucket (a folder of the filesystem backend), empty. */
  public void createBucket(String bucket) throws IOException {
    Files.createDirectories(data.resolve(bucket));
  }

  /** The file the server keeps {@code key} of {@code bucket} in (it may not exist). */
  public Path objectFile(String bucket, String key) {
    return data.resolve(bucket).resolve(key);
  }

  /** The server's log, for messages. */
  public String logTail(int lines) {
    ManagedProcess p = process;
    return p == null ? "(stopped)" : p.logTail(lines);
  }

  @Override
  public synchronized void close() {
    stop();
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // a temp folder left behind harms nothing
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
