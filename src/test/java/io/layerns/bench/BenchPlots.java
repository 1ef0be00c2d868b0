package io.layerns.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.LogarithmicAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * Draws the benchmarks' figures as PNG next to their CSV in bench/results/: {@code publish*.csv}
 * (time to a ready volume against image size, per method) and {@code dedup*.csv} (bytes stored
 * before and after dedup against the floor, per replicas). Headless; run by hack/bench.sh after the
 * benchmarks.
 */
public final class BenchPlots {
  private static final int WIDTH = 900;
  private static final int HEIGHT = 560;
  private static final Color[] COLORS = {
    new Color(0x44, 0x44, 0x44), new Color(0x1f, 0x77, 0xb4), new Color(0xff, 0x7f, 0x0e)
  };

  private BenchPlots() {}

  public static void main(String[] args) throws IOException {
    System.setProperty("java.awt.headless", "true");
    Path dir = args.length > 0 ? Path.of(args[0]) : Bench.results();
    List<Path> csvs;
    try (Stream<Path> files = Files.list(dir)) {
      csvs = files.filter(f -> f.toString().endsWith(".csv")).sorted().toList();
    }
    for (Path csv : csvs) {
      String name = csv.getFileName().toString().replace(".csv", "");
      JFreeChart chart;
      if (name.startsWith("publish")) {
        chart = publish(read(csv), name.endsWith("-full"));
      } else if (name.startsWith("dedup")) {
        chart = dedup(read(csv), name.endsWith("-full"));
      } else {
        continue;
      }
      Path png = dir.resolve(name + ".png");
      ChartUtils.saveChartAsPNG(png.toFile(), chart, WIDTH, HEIGHT);
      System.out.println("bench: wrote " + png);
    }
  }

  /** Time to a ready volume against image size, one line per method, min-max as error bars. */
  static JFreeChart publish(List<Map<String, String>> rows, boolean full) {
    Map<String, YIntervalSeries> series = new LinkedHashMap<>();
    for (Map<String, String> r : rows) {
      String method =
          switch (r.get("method")) {
            case "pull" -> "pull from the registry + unpack (baseline)";
            case "Sshfs" -> "publish from a peer, Sshfs";
            case "Copy" -> "publish from a peer, Copy";
            default -> r.get("method");
          };
      series
          .computeIfAbsent(method, YIntervalSeries::new)
          .add(
              Double.parseDouble(r.get("image_mib")),
              Double.parseDouble(r.get("ready_median_s")),
              Double.parseDouble(r.get("ready_min_s")),
              Double.parseDouble(r.get("ready_max_s")));
    }
    YIntervalSeriesCollection data = new YIntervalSeriesCollection();
    series.values().forEach(data::addSeries);

    LogAxis x = new LogAxis("image size, uncompressed (MiB, log scale)");
    x.setBase(10);
    x.setTickUnit(new NumberTickUnit(1));
    x.setNumberFormatOverride(new java.text.DecimalFormat("#,##0.#"));
    x.setLowerBound(5);
    x.setUpperBound(full ? 2000 : 200);
    // LogarithmicAxis labels 0.2, 0.3, ... between the powers of ten, which a span of one or two
    // decades needs to be readable.
    LogarithmicAxis y =
        new LogarithmicAxis("time to a ready volume (s, log scale; median, bars min-max)");
    y.setNumberFormatOverride(new java.text.DecimalFormat("0.##"));
    XYErrorRenderer renderer = new XYErrorRenderer();
    renderer.setDefaultLinesVisible(true);
    renderer.setDefaultShapesVisible(true);
    renderer.setDrawXError(false);
    renderer.setCapLength(8);
    for (int i = 0; i < data.getSeriesCount(); i++) {
      renderer.setSeriesPaint(i, COLORS[i % COLORS.length]);
      renderer.setSeriesStroke(i, new BasicStroke(2f));
    }
    XYPlot plot = new XYPlot(data, x, y, renderer);
    style(plot);
    JFreeChart chart =
        new JFreeChart(
            "Time to a ready volume on a node without the image",
            new Font("SansSerif", Font.BOLD, 18),
            plot,
            true);
    chart.addSubtitle(
        new TextTitle(
            "NodePublishVolume from a peer vs pulling from the registry ("
                + (full ? "full run" : "quick run")
                + ", one machine, loopback)"));
    chart.setBackgroundPaint(Color.WHITE);
    return chart;
  }

  /** Bytes stored before dedup, after, and the floor (replicas × unique), per replicas. */
  static JFreeChart dedup(List<Map<String, String>> rows, boolean full) {
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    double unique = 0;
    boolean atFloor = true;
    for (Map<String, String> r : rows) {
      String replicas = "replicas: " + r.get("replicas");
      data.addValue(
          gib(r.get("before_bytes")), "stored before dedup (every node its own)", replicas);
      data.addValue(gib(r.get("after_bytes")), "stored after dedup (agents' disks)", replicas);
      data.addValue(gib(r.get("floor_bytes")), "floor: replicas × unique bytes", replicas);
      unique = gib(r.get("unique_bytes"));
      atFloor &= r.get("after_bytes").equals(r.get("floor_bytes"));
    }
    NumberAxis y = new NumberAxis("bytes stored in the cluster (GiB)");
    BarRenderer renderer = new BarRenderer();
    renderer.setBarPainter(new StandardBarPainter());
    renderer.setShadowVisible(false);
    renderer.setItemMargin(0.05);
    for (int i = 0; i < 3; i++) {
      renderer.setSeriesPaint(i, COLORS[i]);
    }
    renderer.setDefaultItemLabelGenerator(
        new org.jfree.chart.labels.StandardCategoryItemLabelGenerator(
            "{2}", new java.text.DecimalFormat("0.00")));
    renderer.setDefaultItemLabelsVisible(true);
    CategoryPlot plot = new CategoryPlot(data, new CategoryAxis("namespace replicas"), y, renderer);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    JFreeChart chart =
        new JFreeChart(
            "Bytes stored before and after dedup",
            new Font("SansSerif", Font.BOLD, 18),
            plot,
            true);
    chart.addSubtitle(
        new TextTitle(
            String.format(
                java.util.Locale.ROOT,
                "DedupStorageBenchmark (%s run): unique bytes %.2f GiB; after dedup %s the floor",
                full ? "full" : "quick",
                unique,
                atFloor ? "equals" : "differs from")));
    chart.setBackgroundPaint(Color.WHITE);
    return chart;
  }

  private static void style(XYPlot plot) {
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
  }

  private static double gib(String bytes) {
    return Long.parseLong(bytes) / (double) (1L << 30);
  }

  /** A CSV with a header line, no quoting (the benchmarks write no commas in values). */
  static List<Map<String, String>> read(Path csv) throws IOException {
    List<String> lines = Files.readAllLines(csv);
    String[] header = lines.getFirst().split(",");
    List<Map<String, String>> rows = new ArrayList<>();
    for (String line : lines.subList(1, lines.size())) {
      String[] cells = line.split(",", -1);
      if (cells.length != header.length) {
        throw new IOException(
            csv + ": line has " + cells.length + " cells, header " + header.length);
      }
      Map<String, String> row = new LinkedHashMap<>();
      for (int i = 0; i < header.length; i++) {
        row.put(header[i], cells[i]);
      }
      rows.add(row);
    }
    return rows;
  }
}
