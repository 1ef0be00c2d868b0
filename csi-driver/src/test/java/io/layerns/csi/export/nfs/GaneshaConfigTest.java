package io.layerns.csi.export.nfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GaneshaConfigTest {

  private static final Path LAYERS = Path.of("/var/lib/layerns/layers");
  private static final Path STATE = Path.of("/var/lib/layerns-agent/nfs");

  private static final String PUBLIC = "a".repeat(64);
  private static final String OTHER = "b".repeat(64);

  /** A configuration that exports layer {@link #PUBLIC}. */
  private static GaneshaConfig config(List<String> clients) {
    return new GaneshaConfig(LAYERS, "/layerns", "10.0.0.5", 20490, clients, STATE)
        .withLayers(new TreeMap<>(Map.of(PUBLIC, 1)));
  }

  @Test
  void exportIsReadOnlyToTheMemberNodesOnly() {
    String conf = config(List.of("10.0.0.6", "10.0.0.7", "10.0.1.0/24")).render();

    String export = block(conf, "EXPORT");
    assertThat(export)
        .contains("Path = /var/lib/layerns/layers/sha256/" + PUBLIC + ";")
        .contains("Pseudo = /layerns/sha256/" + PUBLIC + ";");
    // Nobody outside the CLIENT block gets in, and the CLIENT block only reads.
    assertThat(block(conf, "EXPORT_DEFAULTS")).contains("Access_Type = None;");
    assertThat(settings(export, "Access_Type")).containsExactly("None", "RO");
    String client = block(export, "CLIENT");
    assertThat(settings(client, "Clients")).containsExactly("10.0.0.6, 10.0.0.7, 10.0.1.0/24");
    assertThat(settings(client, "Access_Type")).containsExactly("RO");
    assertThat(conf).doesNotContain("= RW;").doesNotContain("MDONLY");
  }

  @Test
  void speaksOnlyNfsVersion4OverTcpOnTheGivenAddressAndPort() {
    String conf = config(List.of("10.0.0.6")).render();

    String core = block(conf, "NFS_CORE_PARAM");
    assertThat(settings(core, "Protocols")).containsExactly("4");
    assertThat(settings(core, "Bind_addr")).containsExactly("10.0.0.5");
    assertThat(settings(core, "NFS_Port")).containsExactly("20490");
    assertThat(settings(core, "Enable_NLM")).containsExactly("false");
    assertThat(settings(core, "Enable_RQUOTA")).containsExactly("false");
    assertThat(settings(core, "Enable_UDP")).containsExactly("false");
    String export = block(conf, "EXPORT");
    assertThat(settings(export, "Protocols")).containsOnly("4");
    assertThat(settings(export, "Transports")).containsExactly("TCP");
    assertThat(settings(block(export, "FSAL"), "Name")).containsExactly("VFS");
    assertThat(settings(block(conf, "NFSV4"), "RecoveryRoot"))
        .containsExactly("/var/lib/layerns-agent/nfs/recovery");
  }

  @Test
  void noMemberNodesMeansNoClientBlockSoNobodyGetsIn() {
    String conf = config(List.of()).render();

    assertThat(conf).doesNotContain("CLIENT").doesNotContain("Clients");
    assertThat(settings(block(conf, "EXPORT"), "Access_Type")).containsExactly("None");
  }

  @Test
  void eachLayerIsItsOwnExportAndALayerNotListedIsNoExport() {
    String two =
        config(List.of("10.0.0.6")).withLayers(new TreeMap<>(Map.of(PUBLIC, 7, OTHER, 2))).render();
    String none = config(List.of("10.0.0.6")).withLayers(new TreeMap<>()).render();

    assertThat(settings(two, "Export_Id")).containsExactly("7", "2");
    assertThat(settings(two, "Pseudo"))
        .containsExactly("/layerns/sha256/" + PUBLIC, "/layerns/sha256/" + OTHER);
    // The store's folder itself is never exported: a layer not listed is not reachable.
    assertThat(settings(two, "Path")).doesNotContain(LAYERS.toString());
    assertThat(none).doesNotContain("EXPORT {").doesNotContain("Path =");
  }

  @Test
  void layerNamesAndExportIdsThatCouldBreakTheConfigAreRefused() {
    GaneshaConfig c = config(List.of());
    assertThatThrownBy(() -> c.withLayers(new TreeMap<>(Map.of("../etc", 1))))
        .hasMessageContaining("not a layer digest's hex");
    assertThatThrownBy(() -> c.withLayers(new TreeMap<>(Map.of(PUBLIC, 1, OTHER, 1))))
        .hasMessageContaining("taken");
    assertThatThrownBy(() -> c.withLayers(new TreeMap<>(Map.of(PUBLIC, 0))))
        .hasMessageContaining("out of range");
  }

  @ParameterizedTest(name = "[refused] client {0}")
  @ValueSource(
      strings = {
        "10.0.0.6; Access_Type = RW",
        "*",
        "10.0.0.6}",
        "host.example",
        "10.0.0.6\nEXPORT {",
        ""
      })
  void clientsThatCouldChangeTheConfigAreRefused(String client) {
    assertThatThrownBy(() -> config(List.of(client)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not an IP address");
  }

  @Test
  void pathsAndPseudoPathsThatCouldChangeTheConfigAreRefused() {
    assertThatThrownBy(
            () ->
                new GaneshaConfig(Path.of("/x;}"), "/layerns", "10.0.0.5", 2049, List.of(), STATE))
        .hasMessageContaining("path unsafe");
    assertThatThrownBy(
            () -> new GaneshaConfig(LAYERS, "/a/../b", "10.0.0.5", 2049, List.of(), STATE))
        .hasMessageContaining("not a pseudo path");
    assertThatThrownBy(() -> new GaneshaConfig(LAYERS, "/layerns", "10.0.0.5", 0, List.of(), STATE))
        .hasMessageContaining("port");
  }

  /** The body of the first {@code NAME { ... }} block, braces balanced. */
  static String block(String conf, String name) {
    Matcher m = Pattern.compile("(?m)^\\s*" + Pattern.quote(name) + "\\s*\\{").matcher(conf);
    assertThat(m.find()).as("block %s in%n%s", name, conf).isTrue();
    int depth = 1;
    int i = m.end();
    int start = i;
    for (; depth > 0; i++) {
      char c = conf.charAt(i);
      if (c == '{') {
        depth++;
      } else if (c == '}') {
        depth--;
      }
    }
    return conf.substring(start, i - 1);
  }

  /** The values of {@code key = value;} at any depth of {@code text}, in order. */
  static List<String> settings(String text, String key) {
    Matcher m =
        Pattern.compile("(?m)^\\s*" + Pattern.quote(key) + "\\s*=\\s*([^;]*);").matcher(text);
    return m.results().map(r -> r.group(1).strip()).toList();
  }
}
