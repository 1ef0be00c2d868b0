package io.layerns.csi.registry;

import io.layerns.csi.registry.RegistryException.Reason;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which addresses the node plugin may send registry requests to. The plugin runs in the host's
 * network, so a pod naming {@code 127.0.0.1:port/...} or {@code 169.254.169.254/...} as its image's
 * registry would otherwise make the node send requests to its own loopback services or to the cloud
 * metadata service. Loopback, link-local and unspecified addresses are refused unless they are in
 * one of the networks the admin allows ({@value #SETTING}).
 *
 * <p>Each request is checked on every address its host resolves to, just before it is sent: the
 * registry, each redirect it answers with, and its token service. The HTTP client then connects to
 * an address from the JVM's resolver cache, which holds the answer checked here (for 30 seconds).
 */
public final class RegistryAddresses {
  /** The plugin setting that allows networks, as an environment variable. */
  public static final String SETTING = "LAYERNS_REGISTRY_ALLOWED_NETWORKS";

  /** The same setting as a plugin argument. */
  public static final String ARGUMENT = "--registry-allowed-networks";

  /** Nothing allowed beyond ordinary addresses. */
  public static final RegistryAddresses DEFAULT = new RegistryAddresses(List.of());

  private final List<Network> allowed;

  private RegistryAddresses(List<Network> allowed) {
    this.allowed = List.copyOf(allowed);
  }

  /**
   * Parses a comma-separated list of CIDR networks (address/prefix, IPv4 or IPv6); empty allows
   * nothing beyond ordinary addresses.
   *
   * @throws IllegalArgumentException naming the entry that is no CIDR network
   */
  public static RegistryAddresses parse(String networks) {
    List<Network> parsed = new ArrayList<>();
    for (String entry : networks.split(",")) {
      String cidr = entry.trim();
      if (!cidr.isEmpty()) {
        parsed.add(Network.parse(cidr));
      }
    }
    return new RegistryAddresses(parsed);
  }

  /**
   * Checks every address {@code target}'s host resolves to.
   *
   * @param registry the registry the request is for, named in the error
   * @throws RegistryException ADDRESS_REFUSED naming the address and the setting that allows it
   */
  void check(String registry, URI target) throws RegistryException {
    String host = target.getHost();
    if (host == null) {
      return; // no host to connect to: the HTTP client refuses the URI itself
    }
    InetAddress[] addresses;
    try {
      addresses = InetAddress.getAllByName(host);
    } catch (UnknownHostException e) {
      throw new RegistryException(
          Reason.UNAVAILABLE, registry, "could not be reached at " + target + ": " + e, e);
    }
    for (InetAddress address : addresses) {
      String kind = kind(address);
      if (kind != null && allowed.stream().noneMatch(n -> n.contains(address))) {
        throw new RegistryException(
            Reason.ADDRESS_REFUSED,
            registry,
            -1,
            "refusing to send a request to "
                + address.getHostAddress()
                + " ("
                + kind
                + (host.equals(address.getHostAddress()) ? "" : ", what " + host + " resolves to")
                + ") for "
                + target
                + ": registry requests to loopback, link-local and unspecified addresses are"
                + " refused unless the node plugin's "
                + SETTING
                + " ("
                + ARGUMENT
                + ") lists a network holding the address, e.g. "
                + address.getHostAddress()
                + (address instanceof Inet6Address ? "/128" : "/32"));
      }
    }
  }

  /** Why an address is refused by default, or null when it is an ordinary one. */
  static String kind(InetAddress address) {
    if (address.isLoopbackAddress()) {
      return "a loopback address";
    }
    if (address.isLinkLocalAddress()) {
      return "a link-local address";
    }
    if (address.isAnyLocalAddress()) {
      return "the unspecified address";
    }
    if (address instanceof Inet6Address v6 && v6.isIPv4CompatibleAddress()) {
      // ::127.0.0.1 and the like reach the IPv4 address they embed on some stacks.
      byte[] b = v6.getAddress();
      try {
        return kind(InetAddress.getByAddress(Arrays.copyOfRange(b, 12, 16)));
      } catch (UnknownHostException e) {
        return null;
      }
    }
    return null;
  }

  @Override
  public String toString() {
    return allowed.isEmpty() ? "(none)" : allowed.toString();
  }

  /** One CIDR network. */
  private record Network(byte[] prefix, int bits, String text) {
    static Network parse(String cidr) {
      int slash = cidr.indexOf('/');
      if (slash < 0) {
        throw new IllegalArgumentException(
            SETTING + ": \"" + cidr + "\" is no CIDR network (address/prefix length)");
      }
      String address = cidr.substring(0, slash);
      if (!address.matches("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")) {
        // Only literals: a name here would be resolved once, and could change afterwards.
        throw new IllegalArgumentException(
            SETTING + ": \"" + cidr + "\" must name an IP address, not a host name");
      }
      byte[] bytes;
      int bits;
      try {
        bytes = InetAddress.getByName(address).getAddress();
        bits = Integer.parseInt(cidr.substring(slash + 1));
      } catch (UnknownHostException | NumberFormatException e) {
        throw new IllegalArgumentException(
            SETTING + ": \"" + cidr + "\" is no CIDR network (address/prefix length)");
      }
      if (bits < 0 || bits > bytes.length * 8) {
        throw new IllegalArgumentException(
            SETTING + ": \"" + cidr + "\" has a prefix length outside 0-" + bytes.length * 8);
      }
      return new Network(bytes, bits, cidr);
    }

    boolean contains(InetAddress address) {
      byte[] a = address.getAddress();
      if (a.length != prefix.length) {
        return false;
      }
      for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);
        if ((a[i / 8] & mask) != (prefix[i / 8] & mask)) {
          return false;
        }
      }
      return true;
    }

    @Override
    public String toString() {
      return text;
    }
  }
}
