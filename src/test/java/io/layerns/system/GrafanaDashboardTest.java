package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import io.layerns.operator.LayernsOperator;
import io.layerns.operator.OperatorConfig;
import io.layerns.testing.ControlPlaneExtension;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Grafana dashboard in manifests/grafana asks only for series that layerns exports: every
 * metric name in its PromQL is one that the node plugin's registry or a running operator's /metrics
 * serves (read from them here, not listed by hand).
 */
class GrafanaDashboardTest {
  static final Path DASHBOARD =
      ControlPlaneExtension.repoRoot().resolve("manifests/grafana/layerns.json");

  private static final Set<String> PROMQL_WORDS =
      Set.of(
          "by",
          "without",
          "on",
          "ignoring",
          "group_left",
          "group_right",
          "and",
          "or",
          "unless",
          "bool",
          "offset",
          "inf",
          "nan");

  @Test
  void everyQueryNamesOnlyMetricsThePluginOrTheOperatorExports(@TempDir Path store)
      throws Exception {
    Set<String> exported = new TreeSet<>(names(pluginScrape(store)));
    exported.addAll(names(operatorScrape()));
    assertThat(exported).as("the scrapes themselves").isNotEmpty();

    List<String> queries = queries(new ObjectMapper().readTree(DASHBOARD.toFile()));
    assertThat(queries).as("queries in " + DASHBOARD).hasSizeGreaterThan(10);
    Set<String> used = new TreeSet<>();
    for (String q : queries) {
      Set<String> named = metricNames(q);
      assertThat(named).as("a query that names no metric: " + q).isNotEmpty();
      for (String name : named) {
        assertThat(exported).as("metric " + name + " in " + q + " is exported").contains(name);
      }
      used.addAll(named);
    }
    // Both components are on the dashboard.
    assertThat(used).anyMatch(n -> n.startsWith("layerns_node_"));
    assertThat(used).anyMatch(n -> n.startsWith("layerns_operator_"));
  }

  @Test
  void theNameExtractionFindsEachMetricOfAQueryAndNothingElse() {
    assertThat(
            metricNames(
                "histogram_quantile(0.95, sum by (le, transport)"
                    + " (rate(layerns_node_publish_seconds_bucket{instance=~\"$node\"}[5m])))"))
        .containsExactly("layerns_node_publish_seconds_bucket");
    assertThat(
            metricNames(
                "time() - min(layerns_node_scrub_last_full_pass_timestamp_seconds) > bool 3600"
                    + " or on() vector(0) * up_metric_typo"))
        .containsExactly("layerns_node_scrub_last_full_pass_timestamp_seconds", "up_metric_typo");
  }

  /** Every {@code expr} of a panel target and {@code query} of a query variable. */
  private static List<String> queries(JsonNode dashboard) {
    List<String> out = new ArrayList<>();
    for (JsonNode panel : dashboard.path("panels")) {
      for (JsonNode target : panel.path("targets")) {
        out.add(target.path("expr").asText());
      }
    }
    for (JsonNode variable : dashboard.path("templating").path("list")) {
      if (variable.path("type").asText().equals("query")) {
        JsonNode q = variable.path("query");
        out.add(q.isObject() ? q.path("query").asText() : q.asText());
      }
    }
    return out;
  }

  /**
   * The metric names in a PromQL expression (or a Grafana label_values() call): identifiers left
   * once strings, label matchers, ranges, grouping clauses, function calls, numbers and keywords
   * are taken out.
   */
  static Set<String> metricNames(String promql) {
    String s = promql.replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"");
    s = s.replaceAll("\\{[^}]*}", " ");
    s = s.replaceAll("\\[[^]]*]", " ");
    s = s.replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ");
    // label_values(metric, label): the label is no metric.
    s = s.replaceAll("label_values\\(([^,)]+),[^)]*\\)", "($1)");
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("(?<![\\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*(\\()?").matcher(s);
    while (m.find()) {
      String word = m.group(1);
      if (m.group(2) != null || PROMQL_WORDS.contains(word.toLowerCase())) {
        continue; // a function, or a keyword
      }
      names.add(word);
    }
    return names;
  }

  /** The sample names of a Prometheus text exposition. */
  private static Set<String> names(String exposition) {
    Set<String> names = new TreeSet<>();
    for (String line : exposition.split("\n")) {
      if (!line.isBlank() && !line.startsWith("#")) {
        names.add(line.split("[{ ]", 2)[0]);
      }
    }
    return names;
  }

  /**
   * What the plugin's registry serves at /metrics, wired as CsiPluginMain wires it (a store, and a
   * remote mount: the per-peer series exist only then).
   */
  private static String pluginScrape(Path root) throws Exception {
    NodeMetrics metrics = NodeMetrics.prometheus();
    metrics.watchStore(LocalLayerStore.open(root));
    RemoteLayer mount = new RemoteLayer("peer-1", Digest.parse("sha256:" + "a".repeat(64)));
    metrics.watchRemoteMounts(() -> List.of(mount), List::of);
    return metrics.scrape();
  }

  /**
   * What a running operator serves at /metrics: the real operator, started without an API server to
   * talk to (its health server and metrics come up before it connects).
   */
  private static String operatorScrape() throws Exception {
    try (KubernetesClient nowhere =
            new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build())
                .build();
        LayernsOperator operator =
            new LayernsOperator(nowhere, OperatorConfig.embedded("dashboard"), Clock.systemUTC())) {
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + operator.httpPort() + "/metrics"))
                      .timeout(Duration.ofSeconds(10))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      return r.body();
    }
  }
}
