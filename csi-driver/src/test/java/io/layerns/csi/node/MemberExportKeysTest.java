package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.transport.TestNodeKeys;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.junit.jupiter.api.Test;

class MemberExportKeysTest {
  private final List<NamespaceView.PeerStore> peers = new ArrayList<>();
  private final AtomicInteger reads = new AtomicInteger();
  private final MemberExportKeys keys =
      new MemberExportKeys(
          () -> {
            reads.incrementAndGet();
            return new NamespaceView("pool", Transport.Copy, List.copyOf(peers));
          });

  @Test
  void eachMembersKeyIsFoundByItsHttpExportsAddressOnly() throws Exception {
    KeyPair a = TestNodeKeys.generate();
    peers.add(peer("node-a", "https://10.0.0.1:7443", a));
    peers.add(peer("node-ipv6", "https://[fd00::2]:7443", TestNodeKeys.generate()));

    assertThat(keys.publishedBy("10.0.0.1", 7443))
        .hasValueSatisfying(k -> assertThat(NodeTls.sameKey(k, a.getPublic())).isTrue());
    assertThat(keys.publishedBy("10.0.0.1", 7444)).as("another port").isEmpty();
    assertThat(keys.publishedBy("10.0.0.9", 7443)).as("no member's address").isEmpty();
    assertThat(keys.publishedBy("fd00::2", 7443)).as("IPv6, without brackets").isPresent();
    assertThat(keys.publishedBy("[fd00::2]", 7443)).as("IPv6, with brackets").isPresent();
  }

  @Test
  void aMemberWithoutAKeyOrWithAnUnusableOneHasNone() throws Exception {
    peers.add(
        new NamespaceView.PeerStore(
            "no-key",
            new StoreEndpoints("https://10.0.0.3:7443", null, null, null),
            Set.of(),
            Set.of()));
    peers.add(
        new NamespaceView.PeerStore(
            "bad-key",
            new StoreEndpoints("https://10.0.0.4:7443", null, "ssh-ed25519 notbase64!", null),
            Set.of(),
            Set.of()));

    assertThat(keys.publishedBy("10.0.0.3", 7443)).isEmpty();
    assertThat(keys.publishedBy("10.0.0.4", 7443)).isEmpty();
  }

  @Test
  void aMemberThatJoinsAfterAReadIsFoundAndKnownAddressesCostNoRead() throws Exception {
    peers.add(peer("node-a", "https://10.0.0.1:7443", TestNodeKeys.generate()));
    assertThat(keys.publishedBy("10.0.0.1", 7443)).isPresent();
    assertThat(keys.publishedBy("10.0.0.1", 7443)).isPresent();
    assertThat(reads).as("one read for a known address, twice").hasValue(1);

    peers.add(peer("node-b", "https://10.0.0.2:7443", TestNodeKeys.generate()));

    assertThat(keys.publishedBy("10.0.0.2", 7443)).as("read again on a miss").isPresent();
    assertThat(reads).hasValue(2);
  }

  @Test
  void anAddressTwoMembersClaimWithDifferentKeysOrAPlainHttpExportHasNoKey() throws Exception {
    // The address is what a member writes about itself: a member claiming another's must not
    // have its own key pinned there (a man in the middle), whichever is listed first.
    peers.add(peer("node-a", "https://10.0.0.1:7443", TestNodeKeys.generate()));
    peers.add(peer("impostor", "https://10.0.0.1:7443", TestNodeKeys.generate()));
    peers.add(peer("old-plain", "http://10.0.0.5:7443", TestNodeKeys.generate()));

    assertThat(keys.publishedBy("10.0.0.1", 7443)).isEmpty();
    assertThat(keys.publishedBy("10.0.0.5", 7443)).as("not https").isEmpty();
  }

  private static NamespaceView.PeerStore peer(String node, String http, KeyPair key) {
    return new NamespaceView.PeerStore(
        node,
        new StoreEndpoints(http, null, PublicKeyEntry.toString(key.getPublic()), null),
        Set.of(),
        Set.of());
  }
}
