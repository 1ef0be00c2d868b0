package io.layerns.system;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A network namespace of the test's own, with addresses on its loopback device: where a test puts
 * non-loopback addresses, which must never exist in the machine's own network namespace. Commands
 * run inside it through {@code nsenter --net} (not {@code ip netns exec}, which also unshares the
 * mount namespace).
 */
final class NetworkNamespace implements AutoCloseable {
  private final String name;

  private NetworkNamespace(String name) {
    this.name = name;
  }

  /** Creates {@code name} with its loopback up and {@code addresses} (/32 each) on it. */
  static NetworkNamespace create(String name, String... addresses)
      throws IOException, InterruptedException {
    PluginProcess.run(List.of("ip", "netns", "add", name));
    NetworkNamespace ns = new NetworkNamespace(name);
    try {
      PluginProcess.run(List.of("ip", "-n", name, "link", "set", "lo", "up"));
      for (String a : addresses) {
        PluginProcess.run(List.of("ip", "-n", name, "addr", "add", a + "/32", "dev", "lo"));
      }
      return ns;
    } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
      ns.close();
      throw e;
    }
  }

  /** {@code command} as run inside this namespace. */
  List<String> command(List<String> command) {
    List<String> inside = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + name, "--"));
    inside.addAll(command);
    return inside;
  }

  @Override
  public void close() {
    try {
      PluginProcess.run(List.of("ip", "netns", "delete", name));
    } catch (IOException | InterruptedException | AssertionError e) {
      throw new IllegalStateException("could not delete network namespace " + name + ": " + e, e);
    }
  }
}
