package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNoException;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import org.junit.jupiter.api.Test;

/** Which addresses registry requests may go to, and how the admin's allow-list reads. */
class RegistryAddressesTest {

  @Test
  void loopbackLinkLocalAndUnspecifiedAddressesAreRefusedByDefault() {
    for (String host :
        new String[] {
          "127.0.0.1",
          "127.9.9.9",
          "[::1]",
          "169.254.169.254",
          "[fe80::1]",
          "0.0.0.0",
          "[::]",
          "[::ffff:127.0.0.1]",
          "[::127.0.0.1]"
        }) {
      assertThatThrownBy(
              () ->
                  RegistryAddresses.DEFAULT.check("r", URI.create("http://" + host + ":5000/v2/")))
          .as(host)
          .isInstanceOfSatisfying(
              RegistryException.class,
              e -> assertThat(e.reason()).isEqualTo(RegistryException.Reason.ADDRESS_REFUSED))
          .hasMessageContaining(RegistryAddresses.SETTING);
    }
  }

  @Test
  void ordinaryAddressesPass() {
    for (String host : new String[] {"10.77.0.1", "192.0.2.10", "[2001:db8::1]", "172.16.0.1"}) {
      assertThatNoException()
          .as(host)
          .isThrownBy(
              () -> RegistryAddresses.DEFAULT.check("r", URI.create("https://" + host + "/v2/")));
    }
  }

  @Test
  void anAllowedNetworkLetsItsAddressesInAndNoOthers() throws Exception {
    RegistryAddresses allowed = RegistryAddresses.parse(" 127.0.0.2/32, fe80::/10 ");
    allowed.check("r", URI.create("http://127.0.0.2:5000/v2/"));
    allowed.check("r", URI.create("http://[fe80::1234]:5000/v2/"));
    assertThatThrownBy(() -> allowed.check("r", URI.create("http://127.0.0.1:5000/v2/")))
        .hasMessageContaining("refusing to send a request to 127.0.0.1 (a loopback address)")
        .hasMessageContaining("e.g. 127.0.0.1/32");
  }

  @Test
  void aMalformedAllowListIsRefusedNamingTheEntry() {
    assertThatThrownBy(() -> RegistryAddresses.parse("127.0.0.0/8,localhost/8"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"localhost/8\" must name an IP address");
    assertThatThrownBy(() -> RegistryAddresses.parse("127.0.0.1"))
        .hasMessageContaining("\"127.0.0.1\" is no CIDR network");
    assertThatThrownBy(() -> RegistryAddresses.parse("127.0.0.0/33"))
        .hasMessageContaining("prefix length outside 0-32");
  }
}
