package io.layerns.csi.containerd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.layerns.csi.registry.RegistryHosts;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContainerdHostsTest {
  private static final URI MIRROR = URI.create("http://127.0.0.1:7050");

  @TempDir Path dir;
  @TempDir Path pluginCerts;

  private ContainerdHosts hosts(Map<String, RegistryHosts.Host> configured) {
    return new ContainerdHosts(dir, MIRROR, r -> Optional.ofNullable(configured.get(r)));
  }

  private static JsonNode toml(Path file) throws Exception {
    return new TomlMapper().readTree(file.toFile());
  }

  @Test
  void writesTheMirrorBeforeTheUpstreamInTheHostPortFolder() throws Exception {
    var outcome = hosts(Map.of()).sync(List.of("registry.example:5000", "registry.example"));

    assertThat(outcome.written()).containsExactly("registry.example:5000", "registry.example");
    Path file = dir.resolve("registry.example:5000/hosts.toml");
    assertThat(Files.readString(file)).startsWith(ContainerdHosts.HEADER + "\n");
    JsonNode root = toml(file);
    assertThat(root.path("server").asText()).isEqualTo("https://registry.example:5000");
    JsonNode mirror = root.path("host").path("http://127.0.0.1:7050");
    assertThat(mirror.path("capabilities").toString()).isEqualTo("[\"pull\",\"resolve\"]");
    assertThat(root.has("skip_verify")).isFalse();
    assertThat(toml(dir.resolve("registry.example/hosts.toml")).path("server").asText())
        .isEqualTo("https://registry.example");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-r--r--");
    // The plugin's own RegistryHosts reads the file as containerd does: same server.
    assertThat(RegistryHosts.load(dir).host("registry.example:5000").orElseThrow().server())
        .isEqualTo(URI.create("https://registry.example:5000"));
  }

  @Test
  void plainHttpUpstreamAndItsSettingsComeFromThePluginsOwnRegistryHosts() throws Exception {
    Path ca = Files.writeString(pluginCerts.resolve("ca.crt"), "-----BEGIN CERTIFICATE-----\nx");
    var outcome =
        hosts(
                Map.of(
                    "10.77.0.1:5000",
                    new RegistryHosts.Host(URI.create("http://10.77.0.1:5000"), List.of(), false),
                    "registry.example",
                    new RegistryHosts.Host(
                        URI.create("https://registry.example"), List.of(ca), true)))
            .sync(List.of("10.77.0.1:5000", "registry.example"));

    assertThat(outcome.written()).hasSize(2);
    assertThat(toml(dir.resolve("10.77.0.1:5000/hosts.toml")).path("server").asText())
        .isEqualTo("http://10.77.0.1:5000");
    JsonNode tls = toml(dir.resolve("registry.example/hosts.toml"));
    assertThat(tls.path("skip_verify").asBoolean()).isTrue();
    assertThat(tls.path("ca").toString()).isEqualTo("[\"layerns-upstream-ca.crt\"]");
    // Copied beside the file: the plugin's mount of its own settings is not containerd's view.
    assertThat(dir.resolve("registry.example/layerns-upstream-ca.crt"))
        .hasContent("-----BEGIN CERTIFICATE-----\nx\n");
  }

  @Test
  void anAdminsHostsTomlIsNeverTouchedAndTheRegistryIsReportedRefused() throws Exception {
    Path folder = Files.createDirectories(dir.resolve("registry.example:5000"));
    String admin = "server = \"https://registry.example:5000\"\nskip_verify = true\n";
    Files.writeString(folder.resolve("hosts.toml"), admin);

    var outcome = hosts(Map.of()).sync(List.of("registry.example:5000"));

    assertThat(outcome.written()).isEmpty();
    assertThat(outcome.refused()).hasSize(1);
    assertThat(outcome.refused().getFirst().reason())
        .contains(folder.resolve("hosts.toml").toString())
        .contains("not written by layerns")
        .contains("[host.\"http://127.0.0.1:7050\"]");
    assertThat(folder.resolve("hosts.toml")).hasContent(admin);
    // Nor when the registry leaves the list: it was never ours to remove.
    assertThat(hosts(Map.of()).sync(List.of()).removed()).isEmpty();
    assertThat(folder.resolve("hosts.toml")).hasContent(admin);
  }

  @Test
  void theUnderscoreFolderThatContainerdReadsFirstIsTheOneUsed() throws Exception {
    // containerd looks for host_port_ before host:port and takes the first folder that exists.
    Path underscore = Files.createDirectories(dir.resolve("registry.example_5000_"));
    Files.writeString(underscore.resolve("ca.crt"), "ca");
    Files.writeString(underscore.resolve("client.cert"), "cert");
    Files.writeString(underscore.resolve("client.key"), "key");

    hosts(Map.of()).sync(List.of("registry.example:5000"));

    assertThat(dir.resolve("registry.example:5000")).doesNotExist();
    JsonNode root = toml(underscore.resolve("hosts.toml"));
    // The admin's Docker-style certificate files keep working once a hosts.toml exists.
    assertThat(root.path("ca").toString()).isEqualTo("[\"ca.crt\"]");
    assertThat(root.path("client").toString()).isEqualTo("[[\"client.cert\",\"client.key\"]]");

    // An admin's hosts.toml there shadows any file of ours: refused, and our old one goes.
    hosts(Map.of()).sync(List.of("registry.example:5000"));
    Files.writeString(underscore.resolve("hosts.toml"), "server = \"https://elsewhere\"\n");
    Files.createDirectories(dir.resolve("registry.example:5000"));
    var outcome = hosts(Map.of()).sync(List.of("registry.example:5000"));
    assertThat(outcome.refused())
        .extracting(ContainerdHosts.Refusal::file)
        .containsExactly(underscore.resolve("hosts.toml"));
  }

  @Test
  void rewritesOnlyOnChangeAndAtomically() throws Exception {
    Path file = dir.resolve("registry.example/hosts.toml");
    hosts(Map.of()).sync(List.of("registry.example"));
    Object inode = Files.readAttributes(file, "unix:ino").get("ino");

    var same = hosts(Map.of()).sync(List.of("registry.example"));
    assertThat(same.unchanged()).containsExactly("registry.example");
    assertThat(same.changedSomething()).isFalse();
    assertThat(Files.readAttributes(file, "unix:ino").get("ino")).isEqualTo(inode);

    // A change replaces the file by rename (a new inode, never a file written in place), and
    // leaves no temp file behind.
    var changed =
        hosts(
                Map.of(
                    "registry.example",
                    new RegistryHosts.Host(
                        URI.create("http://registry.example"), List.of(), false)))
            .sync(List.of("registry.example"));
    assertThat(changed.written()).containsExactly("registry.example");
    assertThat(Files.readAttributes(file, "unix:ino").get("ino")).isNotEqualTo(inode);
    assertThat(toml(file).path("server").asText()).isEqualTo("http://registry.example");
    try (var s = Files.list(file.getParent())) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("hosts.toml");
    }
  }

  @Test
  void aReaderDuringRewritesAlwaysSeesAWholeFile() throws Exception {
    Path file = dir.resolve("registry.example/hosts.toml");
    hosts(Map.of()).sync(List.of("registry.example"));
    AtomicBoolean stop = new AtomicBoolean();
    var reader =
        Thread.ofPlatform()
            .start(
                () -> {
                  while (!stop.get()) {
                    try {
                      String text = Files.readString(file);
                      if (!text.startsWith(ContainerdHosts.HEADER)
                          || !text.endsWith("capabilities = [\"pull\", \"resolve\"]\n")) {
                        throw new AssertionError("partial file: " + text);
                      }
                    } catch (java.io.IOException e) {
                      throw new AssertionError("file missing during a rewrite", e);
                    }
                  }
                });
    for (int i = 0; i < 200; i++) {
      String scheme = i % 2 == 0 ? "http" : "https";
      hosts(
              Map.of(
                  "registry.example",
                  new RegistryHosts.Host(
                      URI.create(scheme + "://registry.example"), List.of(), false)))
          .sync(List.of("registry.example"));
    }
    stop.set(true);
    reader.join();
    assertThat(reader.isAlive()).isFalse();
  }

  @Test
  void aRegistryThatLeavesTheListLosesOnlyTheFilesLayernsWrote() throws Exception {
    Path folder = Files.createDirectories(dir.resolve("registry.example:5000"));
    Files.writeString(folder.resolve("ca.crt"), "admin's CA");
    hosts(
            Map.of(
                "other.example",
                new RegistryHosts.Host(
                    URI.create("https://other.example"),
                    List.of(Files.writeString(pluginCerts.resolve("ca.pem"), "ca")),
                    false)))
        .sync(List.of("registry.example:5000", "other.example"));
    assertThat(folder.resolve("hosts.toml")).exists();

    var outcome = hosts(Map.of()).sync(List.of());

    assertThat(outcome.removed())
        .containsExactlyInAnyOrder(
            folder.resolve("hosts.toml"), dir.resolve("other.example/hosts.toml"));
    // The admin's CA stays where it was; the folder layerns made is gone with its copied CA.
    assertThat(folder.resolve("ca.crt")).hasContent("admin's CA");
    assertThat(folder.resolve("hosts.toml")).doesNotExist();
    assertThat(dir.resolve("other.example")).doesNotExist();
  }

  @Test
  void registryListIsParsedAndAnythingButHostPortIsRefusedByName() {
    assertThat(ContainerdHosts.parseRegistries("")).isEmpty();
    assertThat(ContainerdHosts.parseRegistries(" a.example:5000 , 10.0.0.5 ,,a.example:5000"))
        .containsExactly("a.example:5000", "10.0.0.5");
    assertThat(ContainerdHosts.parseRegistries("[fd00::5]:5000")).containsExactly("[fd00::5]:5000");
    for (String bad : List.of("https://a.example", "a.example/team", "a.example:port", "../x")) {
      assertThatThrownBy(() -> ContainerdHosts.parseRegistries(bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("LAYERNS_MIRROR_REGISTRIES entry '" + bad + "'");
    }
  }

  @Test
  void upkeepTellsEachRefusalOnceAndRepairsADeletedFile() throws Exception {
    Files.createDirectories(dir.resolve("admin.example"));
    Files.writeString(dir.resolve("admin.example/hosts.toml"), "server = \"https://x\"\n");
    List<ContainerdHosts.Refusal> told = new java.util.ArrayList<>();
    var upkeep =
        new ContainerdHostsUpkeep(
            hosts(Map.of()), List.of("admin.example", "registry.example"), told::add);

    upkeep.runOnce();
    Files.delete(dir.resolve("registry.example/hosts.toml"));
    var second = upkeep.runOnce();

    assertThat(told).extracting(ContainerdHosts.Refusal::registry).containsExactly("admin.example");
    assertThat(second.written()).containsExactly("registry.example");
    assertThat(dir.resolve("registry.example/hosts.toml")).exists();
  }

  @Test
  void settingsComeFromTheEnvironment() {
    var none = ContainerdHosts.Settings.parse(Map.of());
    assertThat(none.registries()).isEmpty();
    assertThat(none.dir()).isEqualTo(Path.of("/etc/containerd/certs.d"));
    var set =
        ContainerdHosts.Settings.parse(
            Map.of(
                "LAYERNS_MIRROR_REGISTRIES", "10.77.0.1:5000,registry.example",
                "LAYERNS_CONTAINERD_HOSTS_DIR", "/host/certs.d"));
    assertThat(set.registries()).containsExactly("10.77.0.1:5000", "registry.example");
    assertThat(set.dir()).isEqualTo(Path.of("/host/certs.d"));
  }
}
