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

  /** Sum of every sample of one metric (all label sets). */
  static double sum(String scrape, String metric) {
    double total = 0;
    for (String line : scrape.split("\n")) {
      if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }

  /** What the operator is doing: running reconciles, failing resources, events received so far. */
  record Activity(double running, double failing, double events) {
    static Activity of(int port) throws IOException, InterruptedException {
      String s = scrape(port);
      return new Activity(
          sum(s, "layerns_operator_reconciles_running"),
          sum(s, "layerns_operator_resources_failing"),
          sum(s, "operator_sdk_events_received_total"));
    }

    boolean idle() {
      return running == 0 && failing == 0;
    }
  }

  /**
   * A condition for Awaitility that holds once the operator has settled: between two polls it ran
   * no reconciliation, received no event, and no resource waits for a retry. Every write the
   * operator makes comes back to it as an event, so a write still in flight breaks the condition.
   */
  public static java.util.concurrent.Callable<Boolean> settled(int port) {
    Activity[] last = new Activity[1];
    return () -> {
      Activity now = Activity.of(port);
      boolean settled = now.idle() && now.equals(last[0]);
      last[0] = now;
      return settled;
    };
  }
}
