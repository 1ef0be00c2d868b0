package io.layerns.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reconciles each controller has run and the wall time they took, from the operator's own
 * Prometheus metrics: where the operator's time goes during one event.
 */
record OperatorProfile(Map<String, Long> count, Map<String, Double> seconds) {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final String PREFIX = "operator_sdk_controllers_execution_reconcile_seconds_";

  static OperatorProfile scrape(int port) {
    String text;
    try {
      text =
          HTTP.send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    Map<String, Long> count = new TreeMap<>();
    Map<String, Double> seconds = new TreeMap<>();
    for (String line : text.split("\n")) {
      if (!line.startsWith(PREFIX)) {
        continue;
      }
      int at = line.indexOf("controller=\"");
      if (at < 0) {
        continue;
      }
      String controller = line.substring(at + 12, line.indexOf('"', at + 12));
      double value = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      if (line.startsWith(PREFIX + "count{")) {
        count.merge(controller, (long) value, Long::sum);
      } else if (line.startsWith(PREFIX + "sum{")) {
        seconds.merge(controller, value, Double::sum);
      }
    }
    return new OperatorProfile(count, seconds);
  }

  OperatorProfile minus(OperatorProfile before) {
    Map<String, Long> c = new TreeMap<>();
    Map<String, Double> s = new TreeMap<>();
    count.forEach((k, v) -> c.put(k, v - before.count.getOrDefault(k, 0L)));
    seconds.forEach((k, v) -> s.put(k, v - before.seconds.getOrDefault(k, 0.0)));
    return new OperatorProfile(c, s);
  }

  String describe(String controller) {
    return String.format(
        java.util.Locale.ROOT,
        "%,d (%.1f s)",
        count.getOrDefault(controller, 0L),
        seconds.getOrDefault(controller, 0.0));
  }
}
