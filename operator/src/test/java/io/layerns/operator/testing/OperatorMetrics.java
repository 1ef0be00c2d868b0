package io.layerns.operator.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/**
 * Reads the operator's Prometheus metrics, to know when it has finished work that writes nothing.
 */
public final class OperatorMetrics {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private OperatorMetrics() {}

  public static String scrape(int port) throws IOException, InterruptedException {
    return HTTP.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString())
        .body();
  }

  /** Reconciliations of one controller that have finished, successfully or not. */
  public static long reconciliations(int port, String controller)
      throws IOException, InterruptedException {
    double total = 0;
    for (String line : scrape(port).split("\n")) {
      if (line.startsWith("operator_sdk_controllers_execution_reconcile_seconds_count{")
          && line.contains("controller=\"" + controller + "\"")) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return (long) total;
  }
}
