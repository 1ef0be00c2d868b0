package io.layerns.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The docs quote benchmark figures only from the results file of the run they cite. A quoted block
 * is marked {@code <!-- bench:placement.md -->} ... {@code <!-- /bench -->} (the name is a file in
 * bench/results/), and its lines must appear, in order and unchanged, in that file. A table copied
 * from a results file without the marks fails too, so a quote cannot escape the check.
 */
class BenchFiguresTest {

  private static final Pattern OPEN = Pattern.compile("^<!-- bench:([\\w.-]+\\.md) -->$");
  private static final String CLOSE = "<!-- /bench -->";

  /** A quoted block: where it is, which results file it cites, its lines. */
  record Quote(Path doc, int line, String results, List<String> lines) {
    @Override
    public String toString() {
      return doc.getFileName() + ":" + line + " (bench:" + results + ")";
    }
  }

  @Test
  void everyQuotedBlockIsInTheResultsFileItCites() throws IOException {
    List<Quote> quotes = new ArrayList<>();
    for (Path doc : docs()) {
      quotes.addAll(quotes(doc));
    }
    assertThat(quotes).as("quoted benchmark blocks in %s", docs()).isNotEmpty();
    List<String> problems = new ArrayList<>();
    for (Quote q : quotes) {
      Path file = results().resolve(q.results());
      if (!Files.isRegularFile(file)) {
        problems.add(q + ": no such results file " + file);
      } else if (q.lines().isEmpty()) {
        problems.add(q + ": the block is empty");
      } else if (!containsRun(Files.readAllLines(file), q.lines())) {
        problems.add(q + ": not in " + file + " as quoted; " + firstDifference(file, q));
      }
    }
    assertThat(problems).as("blocks that differ from their results file").isEmpty();
  }

  @Test
  void everyTableFromAResultsFileIsQuotedWithItsMarks() throws IOException {
    Set<String> headers = new HashSet<>();
    try (Stream<Path> files = Files.list(results())) {
      for (Path f : files.filter(p -> p.toString().endsWith(".md")).toList()) {
        headers.addAll(tableHeaders(Files.readAllLines(f)));
      }
    }
    assertThat(headers).as("table headers in %s", results()).isNotEmpty();
    List<String> unmarked = new ArrayList<>();
    for (Path doc : docs()) {
      List<String> lines = Files.readAllLines(doc);
      boolean inside = false;
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i).strip();
        if (OPEN.matcher(line).matches()) {
          inside = true;
        } else if (line.equals(CLOSE)) {
          inside = false;
        } else if (!inside && headers.contains(line)) {
          unmarked.add(doc.getFileName() + ":" + (i + 1) + ": " + line);
        }
      }
    }
    assertThat(unmarked).as("results tables quoted without <!-- bench:... --> marks").isEmpty();
  }

  @Test
  void aBlockThatDiffersFromItsFileIsFound() throws IOException {
    // The check itself: one changed figure in a quoted table is not in the file.
    Path file = results().resolve("placement.md");
    List<String> lines = Files.readAllLines(file);
    int row = lines.indexOf(lines.stream().filter(l -> l.startsWith("| full")).findFirst().get());
    List<String> quoted = new ArrayList<>(lines.subList(row - 2, row + 2));
    assertThat(containsRun(lines, quoted)).isTrue();
    quoted.set(2, quoted.get(2).replaceFirst("\\d+\\.\\d", "9999.9"));
    assertThat(quoted.get(2)).isNotEqualTo(lines.get(row));
    assertThat(containsRun(lines, quoted)).isFalse();
  }

  /** The Markdown files at the repository's root and under docs/. */
  private static List<Path> docs() throws IOException {
    List<Path> docs = new ArrayList<>();
    try (Stream<Path> top = Files.list(Bench.repo())) {
      top.filter(p -> p.toString().endsWith(".md") && Files.isRegularFile(p)).forEach(docs::add);
    }
    Path dir = Bench.repo().resolve("docs");
    if (Files.isDirectory(dir)) {
      try (Stream<Path> all = Files.walk(dir)) {
        all.filter(p -> p.toString().endsWith(".md") && Files.isRegularFile(p)).forEach(docs::add);
      }
    }
    return docs.stream().sorted().toList();
  }

  private static Path results() {
    return Bench.results();
  }

  /** The marked blocks of one document; unclosed or nested marks fail. */
  private static List<Quote> quotes(Path doc) throws IOException {
    List<String> lines = Files.readAllLines(doc);
    List<Quote> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      Matcher m = OPEN.matcher(lines.get(i).strip());
      if (!m.matches()) {
        assertThat(lines.get(i).strip())
            .as("%s:%d: a closing mark without its opening one", doc, i + 1)
            .isNotEqualTo(CLOSE);
        continue;
      }
      int start = i;
      List<String> block = new ArrayList<>();
      for (i++; i < lines.size() && !lines.get(i).strip().equals(CLOSE); i++) {
        assertThat(lines.get(i).strip())
            .as("%s:%d: a bench block opened inside the one from line %d", doc, i + 1, start + 1)
            .doesNotMatch(OPEN);
        block.add(lines.get(i));
      }
      assertThat(i)
          .as("%s:%d: bench block without %s", doc, start + 1, CLOSE)
          .isLessThan(lines.size());
      out.add(new Quote(doc, start + 1, m.group(1), trimBlankLines(block)));
    }
    return out;
  }

  private static List<String> trimBlankLines(List<String> lines) {
    int from = 0;
    int to = lines.size();
    while (from < to && lines.get(from).isBlank()) {
      from++;
    }
    while (to > from && lines.get(to - 1).isBlank()) {
      to--;
    }
    return lines.subList(from, to);
  }

  static boolean containsRun(List<String> file, List<String> run) {
    for (int start = 0; start + run.size() <= file.size(); start++) {
      if (file.subList(start, start + run.size()).equals(run)) {
        return true;
      }
    }
    return false;
  }

  /** Where the quote departs from the file, from the file line its first line matches. */
  private static String firstDifference(Path file, Quote q) throws IOException {
    List<String> lines = Files.readAllLines(file);
    int start = lines.indexOf(q.lines().getFirst());
    if (start < 0) {
      return "its first line is not in the file: " + q.lines().getFirst();
    }
    for (int k = 0; k < q.lines().size(); k++) {
      String quoted = q.lines().get(k);
      String actual = start + k < lines.size() ? lines.get(start + k) : "(end of file)";
      if (!quoted.equals(actual)) {
        return "quoted line " + (k + 1) + "\n  " + quoted + "\nwhere the file has\n  " + actual;
      }
    }
    return "";
  }

  /** A table's header line: a row followed by the "| --- |" line. */
  private static Set<String> tableHeaders(List<String> lines) {
    Set<String> out = new HashSet<>();
    for (int i = 0; i + 1 < lines.size(); i++) {
      if (lines.get(i).startsWith("|") && lines.get(i + 1).matches("^\\|( *:?-+:? *\\|)+$")) {
        out.add(lines.get(i).strip());
      }
    }
    return out;
  }
}
