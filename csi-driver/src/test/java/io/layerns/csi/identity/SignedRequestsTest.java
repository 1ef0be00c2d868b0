package io.layerns.csi.identity;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Requests to a peer's export signed with the node's own key, and what the export refuses. */
class SignedRequestsTest {

  private static final String PATH = "/v2/any/blobs/sha256:" + "a".repeat(64);
  private static final Instant NOW = Instant.parse("2026-12-03T16:00:00Z");

  @TempDir Path tmp;

  private String refusal(Map<String, String> h, String method, String path, Set<PublicKey> keys) {
    return SignedRequests.refusal(
        method,
        path,
        h.get(SignedRequests.KEY_HEADER),
        h.get(SignedRequests.TIME_HEADER),
        h.get(SignedRequests.SIGNATURE_HEADER),
        keys,
        NOW);
  }

  @Test
  void aMembersSignatureIsAcceptedForThePathItSigned() throws Exception {
    NodeKey member = NodeKey.loadOrCreate(tmp.resolve("member"));
    Map<String, String> h = SignedRequests.headers(member.keyPair(), "GET", PATH, NOW);

    assertThat(refusal(h, "GET", PATH, Set.of(member.keyPair().getPublic()))).isNull();
  }

  @Test
  void everythingElseIsRefusedWithTheReason() throws Exception {
    NodeKey member = NodeKey.loadOrCreate(tmp.resolve("member"));
    NodeKey stranger = NodeKey.loadOrCreate(tmp.resolve("stranger"));
    Set<PublicKey> members = Set.of(member.keyPair().getPublic());
    Map<String, String> signed = SignedRequests.headers(member.keyPair(), "GET", PATH, NOW);

    assertThat(refusal(Map.of(), "GET", PATH, members)).contains("not signed by a member node");
    assertThat(
            refusal(
                SignedRequests.headers(stranger.keyPair(), "GET", PATH, NOW), "GET", PATH, members))
        .contains("no member node published");
    assertThat(refusal(signed, "GET", PATH.replace('a', 'b'), members))
        .contains("signature does not match");
    assertThat(refusal(signed, "HEAD", PATH, members)).contains("signature does not match");
    assertThat(
            refusal(
                SignedRequests.headers(
                    member.keyPair(), "GET", PATH, NOW.minus(Duration.ofMinutes(6))),
                "GET",
                PATH,
                members))
        .contains("more than 5 minutes from this node's clock");
    // A member whose key was dropped (it left the namespace).
    assertThat(refusal(signed, "GET", PATH, Set.of())).contains("no member node published");
  }
}
