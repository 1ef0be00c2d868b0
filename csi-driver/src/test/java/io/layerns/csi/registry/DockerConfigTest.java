package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DockerConfigTest {
  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void readsAuthAndUsernamePasswordEntries() {
    DockerConfig config =
        DockerConfig.parse(
            """
            {"auths":{
              "registry.example:5000":{"auth":"%s"},
              "https://index.docker.io/v1/":{"username":"hubuser","password":"hubpass"},
              "http://10.0.0.5:5000/v2/":{"auth":"%s","email":"x@example.org"}}}"""
                .formatted(b64("alice:s3cr:et"), b64("bob:pw")));
    assertThat(config.credentialsFor("registry.example:5000"))
        .contains(new Credentials("alice", "s3cr:et"));
    assertThat(config.credentialsFor("docker.io")).contains(new Credentials("hubuser", "hubpass"));
    assertThat(config.credentialsFor("10.0.0.5:5000")).contains(new Credentials("bob", "pw"));
    assertThat(config.credentialsFor("registry.example")).isEmpty();
  }

  @Test
  void readsTheSecretKey() {
    DockerConfig config =
        DockerConfig.fromSecret(
            Map.of(
                ".dockerconfigjson",
                "{\"auths\":{\"r.example\":{\"auth\":\"" + b64("u:p") + "\"}}}"));
    assertThat(config.credentialsFor("R.EXAMPLE")).contains(new Credentials("u", "p"));
  }

  @Test
  void errorsNameTheProblemWithoutQuotingSecrets() {
    assertThatThrownBy(() -> DockerConfig.fromSecret(Map.of("config.json", "{}")))
        .hasMessageContaining("no .dockerconfigjson key");
    assertThatThrownBy(() -> DockerConfig.parse("{\"auths\": {\"r\": {\"auth\": \"hunter2!!\"}"))
        .hasMessage(".dockerconfigjson is not valid JSON");
    assertThatThrownBy(() -> DockerConfig.parse("{\"credsStore\":\"desktop\"}"))
        .hasMessageContaining("no \"auths\" object");
    assertThatThrownBy(() -> DockerConfig.parse("{\"auths\":{\"r.example\":{\"auth\":\"%%%\"}}}"))
        .hasMessageContaining("entry \"r.example\": \"auth\" is not valid base64");
    assertThatThrownBy(
            () ->
                DockerConfig.parse(
                    "{\"auths\":{\"r.example\":{\"auth\":\"" + b64("hunter2") + "\"}}}"))
        .hasMessageContaining("not base64 of user:password")
        .hasMessageNotContaining("hunter2");
    assertThatThrownBy(() -> DockerConfig.parse("{\"auths\":{\"r.example\":{}}}"))
        .hasMessageContaining("neither \"auth\" nor \"username\" and \"password\"");
  }

  @Test
  void credentialsNeverPrintThePassword() {
    assertThat(new Credentials("alice", "hunter2").toString()).doesNotContain("hunter2");
  }
}
