package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.grpc.StatusRuntimeException;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryPusher;
import io.layerns.csi.registry.RegistryServer;
import io.layerns.csi.registry.TestImage;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.assertj.core.api.AbstractStringAssert;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pod cannot make the node plugin, which runs in the host's network, send requests to the node's
 * loopback or link-local addresses by naming them as its image's registry: not by address, not by a
 * name that resolves there, not through a redirect. The registry there (Debian's docker-registry,
 * holding the image) receives no request, and the publish fails naming the address and the setting
 * that would allow it. Published through the real node plugin's socket, with real overlay mounts.
 */
class RegistryAddressIT {
  private static final String REPO = "team/app";
  private static final TestImage IMAGE = TestImage.threeLayers("v1", Platform.LINUX_AMD64);

  @TempDir Path base;
  private RegistryServer registry;
  private SocketPlugin plugin;
  private HttpServer redirector;
  private final AtomicInteger redirected = new AtomicInteger();

  @BeforeEach
  void startRegistry() throws Exception {
    registry = RegistryServer.start(Files.createDirectories(base.resolve("registry")), null);
    new RegistryPusher(registry.url(), null).push(REPO, IMAGE, "v1");
  }

  @AfterEach
  void stop() throws Exception {
    if (redirector != null) {
      redirector.stop(0);
    }
    if (plugin != null) {
      plugin.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void aRegistryOnLoopbackIsRefusedByDefaultAndReceivesNoRequest() throws Exception {
    plugin = SocketPlugin.start(base, RegistryAddresses.DEFAULT);
    assertRefused(registry.host() + "/" + REPO + ":v1")
        .contains("refusing to send a request to 127.0.0.1 (a loopback address)")
        .contains("LAYERNS_REGISTRY_ALLOWED_NETWORKS")
        .contains("--registry-allowed-networks");
    assertThat(registryRequests()).isZero();
  }

  @Test
  void aNameThatResolvesToLoopbackIsRefused() throws Exception {
    plugin = SocketPlugin.start(base, RegistryAddresses.DEFAULT);
    String port = registry.host().substring(registry.host().indexOf(':') + 1);
    assertRefused("localhost:" + port + "/" + REPO + ":v1")
        .containsPattern("refusing to send a request to (127\\.0\\.0\\.1|0:0:0:0:0:0:0:1)")
        .contains("what localhost resolves to");
    assertThat(registryRequests()).isZero();
  }

  @Test
  void aRedirectToLoopbackIsRefusedThoughTheRegistryItselfIsAllowed() throws Exception {
    startRedirector();
    // Only the redirecting registry's address is allowed, not where it sends the node.
    plugin = SocketPlugin.start(base, RegistryAddresses.parse("127.0.0.2/32"));
    assertRefused(redirectorHost() + "/" + REPO + ":v1")
        .contains("refusing to send a request to 127.0.0.1 (a loopback address)")
        .contains("http://" + registry.host() + "/v2/" + REPO + "/manifests/v1");
    assertThat(redirected.get()).isPositive();
    assertThat(registryRequests()).isZero();
  }

  @Test
  void redirectsAreFollowedWhereTheAdminAllowsTheirAddress() throws Exception {
    startRedirector();
    plugin = SocketPlugin.start(base, RegistryAddresses.parse("127.0.0.0/8"));
    Path target = plugin.publish("csi-redirected", redirectorHost() + "/" + REPO + ":v1");
    assertThat(target.resolve("etc/os-release")).hasContent("ID=test-v1\n");
    assertThat(registryRequests()).isPositive();
  }

  @Test
  void theCloudMetadataAddressIsRefused() throws Exception {
    plugin = SocketPlugin.start(base, RegistryAddresses.DEFAULT);
    assertRefused("169.254.169.254/latest/meta-data:v1")
        .contains("refusing to send a request to 169.254.169.254 (a link-local address)");
  }

  /** The publish fails; what the kubelet would put in the pod's FailedMount event. */
  private AbstractStringAssert<?> assertRefused(String image) {
    return assertThatThrownBy(() -> plugin.publish("csi-refused", image))
        .isInstanceOf(StatusRuntimeException.class)
        .extracting(e -> ((StatusRuntimeException) e).getStatus().getDescription())
        .asString();
  }

  /** Reads of the repository in the registry's log (its access log names each request). */
  private long registryRequests() throws Exception {
    return registry
        .log()
        .lines()
        .filter(
            l -> l.contains("\"GET /v2/" + REPO + "/") || l.contains("\"HEAD /v2/" + REPO + "/"))
        .count();
  }

  /** A registry on 127.0.0.2 that answers every request with a 307 to the real one. */
  private void startRedirector() throws Exception {
    redirector = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0), 8);
    redirector.createContext(
        "/",
        exchange -> {
          redirected.incrementAndGet();
          exchange
              .getResponseHeaders()
              .add("Location", "http://" + registry.host() + exchange.getRequestURI());
          exchange.sendResponseHeaders(307, -1);
          exchange.close();
        });
    redirector.start();
  }

  private String redirectorHost() {
    return "127.0.0.2:" + redirector.getAddress().getPort();
  }
}
