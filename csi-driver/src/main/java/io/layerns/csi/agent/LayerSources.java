package io.layerns.csi.agent;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The registry repository each imported layer came from, kept beside the store so a restart still
 * reports it: the operator records it as the Layer's source, to fetch the layer again if every copy
 * is lost.
 */
final class LayerSources {
  private final Path file;
  private final Map<String, String> byDigest = new ConcurrentHashMap<>();

  LayerSources(Path file) throws IOException {
    this.file = file;
    if (Files.exists(file)) {
      Properties p = new Properties();
      try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        p.load(in);
      }
      p.forEach((k, v) -> byDigest.put((String) k, (String) v));
    }
  }

  String of(String digest) {
    return byDigest.get(digest);
  }

  synchronized void recordAll(Map<String, String> sources) throws IOException {
    byDigest.putAll(sources);
    Properties p = new Properties();
    p.putAll(byDigest);
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (Writer out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      p.store(out, "layer digest = registry repository it was imported from");
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }
}
