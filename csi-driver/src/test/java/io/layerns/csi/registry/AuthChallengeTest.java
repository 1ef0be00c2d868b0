package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AuthChallengeTest {
  @Test
  void parsesABearerChallengeAsRegistriesSendIt() {
    List<AuthChallenge> c =
        AuthChallenge.parse(
            "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                + "scope=\"repository:team/app:pull,push\"");
    assertThat(c)
        .containsExactly(
            new AuthChallenge(
                "bearer",
                Map.of(
                    "realm", "https://auth.example/token",
                    "service", "registry.example",
                    "scope", "repository:team/app:pull,push")));
  }

  @Test
  void parsesBasicWithSpacesAndUnquotedValues() {
    List<AuthChallenge> c = AuthChallenge.parse("Basic   realm = Registry , charset=\"UTF-8\"");
    assertThat(c).hasSize(1);
    assertThat(c.getFirst().scheme()).isEqualTo("basic");
    assertThat(c.getFirst().param("REALM")).isEqualTo("Registry");
    assertThat(c.getFirst().param("charset")).isEqualTo("UTF-8");
  }

  @Test
  void parsesSeveralChallengesAndEscapes() {
    List<AuthChallenge> c =
        AuthChallenge.parse(
            "Basic realm=\"a \\\"quoted\\\" realm\", Bearer realm=\"http://127.0.0.1:1/t\","
                + "error=\"insufficient_scope\"");
    assertThat(c).extracting(AuthChallenge::scheme).containsExactly("basic", "bearer");
    assertThat(c.get(0).param("realm")).isEqualTo("a \"quoted\" realm");
    assertThat(c.get(1).param("realm")).isEqualTo("http://127.0.0.1:1/t");
    assertThat(c.get(1).param("error")).isEqualTo("insufficient_scope");
  }

  @Test
  void aSchemeWithoutParametersIsAChallenge() {
    assertThat(AuthChallenge.parse("Negotiate, Basic realm=x"))
        .extracting(AuthChallenge::scheme)
        .containsExactly("negotiate", "basic");
  }

  @Test
  void refusesMalformedHeaders() {
    assertThatThrownBy(() -> AuthChallenge.parse("Bearer realm=\"unterminated"))
        .hasMessageContaining("unterminated quoted string");
    assertThatThrownBy(() -> AuthChallenge.parse("Bearer realm=\"x\" service=\"y\""))
        .hasMessageContaining("expected ','");
  }
}
