package io.layerns.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Write requests the API server has answered, by resource (and subresource) and verb, read from its
 * own {@code apiserver_request_total} metric: the server's count, so nothing the operator does
 * behind the benchmark's back is missed. Two snapshots give the writes of one event.
 */
record ApiWrites(Map<String, Long> byResource, Map<String, Double> secondsByResource) {
  private static final Set<String> WRITE_VERBS =
      Set.of("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

  static ApiWrites scrape(KubernetesClient client, String apiServerUrl) {
    String text = client.raw(apiServerUrl + "/metrics");
    Map<String, Long> out = new TreeMap<>();
    Map<String, Double> seconds = new TreeMap<>();
    for (String line : text.split("\n")) {
      boolean count = line.startsWith("apiserver_request_total{");
      boolean time = line.startsWith("apiserver_request_duration_seconds_sum{");
      if (!count && !time) {
        continue;
      }
      Map<String, String> labels = new TreeMap<>();
      Matcher m = LABEL.matcher(line.substring(0, line.lastIndexOf('}')));
      while (m.find()) {
        labels.put(m.group(1), m.group(2));
      }
      if (!WRITE_VERBS.contains(labels.get("verb"))) {
        continue;
      }
      String sub = labels.getOrDefault("subresource", "");
      String key =
          labels.get("resource") + (sub.isEmpty() ? "" : "/" + sub) + " " + labels.get("verb");
      double value = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      if (count) {
        out.merge(key, (long) value, Long::sum);
      } else {
        seconds.merge(key, value, Double::sum);
      }
    }
    return new ApiWrites(out, seconds);
  }

  /** Writes since {@code before}. */
  ApiWrites minus(ApiWrites before) {
    Map<String, Long> out = new TreeMap<>();
    byResource.forEach(
        (k, v) -> {
          long d = v - before.byResource.getOrDefault(k, 0L);
          if (d != 0) {
            out.put(k, d);
          }
        });
    Map<String, Double> seconds = new TreeMap<>();
    secondsByResource.forEach(
        (k, v) -> seconds.put(k, v - before.secondsByResource.getOrDefault(k, 0.0)));
    return new ApiWrites(out, seconds);
  }

  long total() {
    return byResource.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Writes to one resource (for example {@code layers/status}), whatever the verb. */
  long of(String resource) {
    return byResource.entrySet().stream()
        .filter(e -> e.getKey().substring(0, e.getKey().indexOf(' ')).equals(resource))
        .mapToLong(Map.Entry::getValue)
        .sum();
  }

  /** Mean time the server took to answer one such write, in milliseconds; NaN when none. */
  double meanMillis(String resource) {
    long n = of(resource);
    double seconds =
        secondsByResource.entrySet().stream()
            .filter(e -> e.getKey().substring(0, e.getKey().indexOf(' ')).equals(resource))
            .mapToDouble(Map.Entry::getValue)
            .sum();
    return n == 0 ? Double.NaN : seconds * 1e3 / n;
  }

  long of(String resource, String verb) {
    return byResource.getOrDefault(resource + " " + verb, 0L);
  }
}
