package io.layerns.csi.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RegistryHostsTest {
  @TempDir Path certs;

  @Test
  void httpServerMeansPlainHttpAndTheRegistryClientUsesIt() throws Exception {
    write("10.1.2.3:5000", "server = \"http://10.1.2.3:5000\"\n");
    RegistryHosts hosts = RegistryHosts.load(certs);
    assertThat(hosts.host("10.1.2.3:5000").orElseThrow().plainHttp()).isTrue();
    assertThat(new RegistryClient(hosts, RegistryAddresses.DEFAULT).baseUri("10.1.2.3:5000"))
        .isEqualTo(URI.create("http://10.1.2.3:5000"));
    assertThat(new RegistryClient(hosts, RegistryAddresses.DEFAULT).baseUri("10.1.2.4:5000"))
        .isEqualTo(URI.create("https://10.1.2.4:5000"));
  }

  @Test
  void hostTableOfTheServerAddsItsCaRelativeToTheFolderAndSkipVerify() throws Exception {
    write(
        "registry.example:443",
        """
        server = "https://registry.example:443"
        [host."https://registry.example:443"]
          capabilities = ["pull", "resolve"]
          ca = ["ca.crt", "other.pem"]
          skip_verify = true
        [host."https://mirror.example"]
          ca = "missing-but-unused.crt"
        """);
    Path folder = certs.resolve("registry.example:443");
    Files.writeString(folder.resolve("ca.crt"), "x");
    Files.writeString(folder.resolve("other.pem"), "x");
    RegistryHosts.Host host = RegistryHosts.load(certs).host("registry.example:443").orElseThrow();
    assertThat(host.server()).isEqualTo(URI.create("https://registry.example:443"));
    assertThat(host.caFiles())
        .containsExactly(folder.resolve("ca.crt"), folder.resolve("other.pem"));
    assertThat(host.skipVerify()).isTrue();
  }

  @Test
  void folderWithoutHostsTomlTrustsItsCrtFilesAsDockerDoes() throws Exception {
    Path folder = Files.createDirectories(certs.resolve("registry.example"));
    Files.writeString(folder.resolve("ca.crt"), "x");
    RegistryHosts.Host host = RegistryHosts.load(certs).host("registry.example").orElseThrow();
    assertThat(host.plainHttp()).isFalse();
    assertThat(host.caFiles()).containsExactly(folder.resolve("ca.crt"));
  }

  @Test
  void containerdsHostUnderscorePortFolderNameIsHostColonPort() throws Exception {
    write("10.1.2.3_5000_", "server = \"http://10.1.2.3:5000\"\n");
    assertThat(RegistryHosts.load(certs).host("10.1.2.3:5000")).isPresent();
  }

  @Test
  void missingFolderConfiguresNothing() throws Exception {
    RegistryHosts hosts = RegistryHosts.load(certs.resolve("absent"));
    assertThat(hosts.host("10.1.2.3:5000")).isEmpty();
  }

  static Stream<Arguments> malformed() {
    return Stream.of(
        Arguments.of("[Error] not TOML", "server = http://x\n", "is not valid TOML"),
        Arguments.of("[Error] server not a string", "server = 5\n", "server must be a string"),
        Arguments.of(
            "[Error] server scheme", "server = \"ftp://x:1\"\n", "server must be http://host"),
        Arguments.of(
            "[Error] server path", "server = \"https://x:1/mirror\"\n", "server has a path"),
        Arguments.of(
            "[Error] skip_verify type", "skip_verify = \"yes\"\n", "skip_verify must be true"),
        Arguments.of("[Error] ca type", "ca = 3\n", "ca must be a path or a list of paths"),
        Arguments.of("[Error] ca missing", "ca = \"nowhere.crt\"\n", "ca names "),
        Arguments.of(
            "[Error] host table ca",
            "[host.\"https://r:5000\"]\nca = [1]\n",
            "host.\"https://r:5000\".ca must be a path"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("malformed")
  void malformedFileIsRefusedNamingFileAndKeyAndOtherRegistriesStillWork(
      String name, String toml, String problem) throws Exception {
    write("r:5000", toml);
    write("good:5000", "server = \"http://good:5000\"\n");
    RegistryHosts hosts = RegistryHosts.load(certs);
    assertThat(hosts.host("r:5000")).isEmpty();
    assertThat(hosts.problem("r:5000").orElseThrow())
        .startsWith(certs.resolve("r:5000").resolve("hosts.toml") + ": ")
        .contains(problem);
    assertThat(hosts.host("good:5000")).isPresent();
  }

  @Test
  void pullFromARegistryWithAMalformedFileFailsWithTheProblem() throws Exception {
    write("r:5000", "skip_verify = 1\n");
    var repo =
        new RegistryClient(RegistryHosts.load(certs), RegistryAddresses.DEFAULT)
            .repository(ImageReference.parse("r:5000/app:1"), DockerConfig.EMPTY);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> repo.fetchManifest("1"))
        .isInstanceOf(RegistryException.class)
        .hasMessageContaining("hosts.toml: skip_verify must be true or false");
  }

  private void write(String folder, String toml) throws Exception {
    Files.createDirectories(certs.resolve(folder));
    Files.writeString(certs.resolve(folder).resolve("hosts.toml"), toml);
  }
}
