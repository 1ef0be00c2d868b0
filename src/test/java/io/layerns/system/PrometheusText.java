package io.layerns.system;

import java.util.HashMap;
import java.util.Map;

/** Reads a Prometheus text exposition, as the tests scrape it from /metrics. */
public final class PrometheusText {
  private PrometheusText() {}

  /** Every sample, keyed by its name and labels as the exposition prints them. */
  public static Map<String, Double> samples(String exposition) {
    Map<String, Double> samples = new HashMap<>();
    for (String line : exposition.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return samples;
  }
}
