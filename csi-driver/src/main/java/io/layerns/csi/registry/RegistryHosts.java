package io.layerns.csi.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How to reach each registry, read from a folder laid out as containerd's {@code certs.d}: {@code
 * <host[:port]>/hosts.toml} with {@code server} (an {@code http://} server means plain HTTP),
 * {@code ca} and {@code skip_verify}, or, without a hosts.toml, the folder's {@code *.crt} files as
 * CAs. Mirrors ({@code [host."..."]} tables for other hosts) and client certificates are not used.
 */
public final class RegistryHosts {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryHosts.class);

  /** Where the node plugin's DaemonSet mounts the cluster's certs.d ConfigMap. */
  public static final Path DEFAULT_DIR = Path.of("/etc/layerns/certs.d");

  private static final String HOSTS_FILE = "hosts.toml";

  /**
   * One registry's transport.
   *
   * @param server scheme and authority requests go to ({@code http://...} for plain HTTP)
   * @param caFiles PEM files of CAs trusted besides the system's
   * @param skipVerify whether the server's certificate goes unchecked (chain and host name)
   */
  public record Host(URI server, List<Path> caFiles, boolean skipVerify) {
    public boolean plainHttp() {
      return "http".equals(server.getScheme());
    }
  }

  private final Map<String, Host> hosts;
  private final Map<String, String> invalid;

  private RegistryHosts(Map<String, Host> hosts, Map<String, String> invalid) {
    this.hosts = Map.copyOf(hosts);
    this.invalid = Map.copyOf(invalid);
  }

  /** No registry configured: https everywhere but loopback. */
  public static RegistryHosts none() {
    return new RegistryHosts(Map.of(), Map.of());
  }

  /** The given registries (host[:port]) over plain HTTP. */
  public static RegistryHosts plainHttp(Set<String> registries) {
    Map<String, Host> hosts = new TreeMap<>();
    registries.forEach(r -> hosts.put(r, new Host(URI.create("http://" + r), List.of(), false)));
    return new RegistryHosts(hosts, Map.of());
  }

  /**
   * Reads every registry's folder under {@code dir}; none when {@code dir} does not exist. A folder
   * whose hosts.toml is malformed configures nothing: pulls from that registry fail with the
   * problem (see {@link #problem}), the other registries work.
   */
  public static RegistryHosts load(Path dir) throws IOException {
    Map<String, Host> hosts = new TreeMap<>();
    Map<String, String> invalid = new TreeMap<>();
    if (!Files.isDirectory(dir)) {
      return none();
    }
    List<Path> folders;
    try (Stream<Path> s = Files.list(dir)) {
      // A ConfigMap volume holds hidden "..data" links beside the files it projects.
      folders =
          s.filter(Files::isDirectory)
              .filter(p -> !p.getFileName().toString().startsWith("."))
              .sorted()
              .toList();
    }
    for (Path folder : folders) {
      String registry = registryOf(folder.getFileName().toString());
      try {
        hosts.put(registry, parseFolder(registry, folder));
      } catch (InvalidHostsFile e) {
        LOG.error("{}; pulls from {} fail until it is fixed", e.getMessage(), registry);
        invalid.put(registry, e.getMessage());
      }
    }
    LOG.info("registry transports from {}: {}", dir, hosts);
    return new RegistryHosts(hosts, invalid);
  }

  /** The configured transport of {@code registry} (host[:port] as image references name it). */
  public Optional<Host> host(String registry) {
    return Optional.ofNullable(hosts.get(registry));
  }

  /** The configured transport whose server is {@code authority} (host[:port]). */
  public Optional<Host> forServer(String authority) {
    return hosts.values().stream()
        .filter(h -> h.server().getRawAuthority().equals(authority))
        .findFirst();
  }

  /** Why {@code registry}'s configuration could not be read, if it could not. */
  public Optional<String> problem(String registry) {
    return Optional.ofNullable(invalid.get(registry));
  }

  /**
   * containerd also accepts {@code host_port_} for {@code host:port} (file systems without ':').
   */
  private static String registryOf(String folderName) {
    if (folderName.matches(".+_[0-9]+_")) {
      String trimmed = folderName.substring(0, folderName.length() - 1);
      int cut = trimmed.lastIndexOf('_');
      return trimmed.substring(0, cut) + ":" + trimmed.substring(cut + 1);
    }
    return folderName;
  }

  private static Host parseFolder(String registry, Path folder) throws IOException {
    Path file = folder.resolve(HOSTS_FILE);
    if (!Files.isRegularFile(file)) {
      List<Path> crts;
      try (Stream<Path> s = Files.list(folder)) {
        crts = s.filter(p -> p.getFileName().toString().endsWith(".crt")).sorted().toList();
      }
      return new Host(URI.create("https://" + registry), crts, false);
    }
    JsonNode root;
    try {
      root = new TomlMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new InvalidHostsFile(file, "is not valid TOML: " + firstLine(e.getMessage()));
    }
    URI server =
        root.has("server")
            ? serverUri(file, "server", text(file, root, "server"))
            : URI.create("https://" + registry);
    List<Path> ca = new ArrayList<>(caFiles(file, folder, root, "ca"));
    boolean skipVerify = bool(file, root, "skip_verify", "skip_verify");
    // The usual containerd file repeats the server as a [host."..."] table holding its settings.
    for (Map.Entry<String, JsonNode> e : root.path("host").properties()) {
      String key = "host.\"" + e.getKey() + "\"";
      if (!e.getValue().isObject()) {
        throw new InvalidHostsFile(file, key + " must be a table");
      }
      URI endpoint = serverUri(file, key, e.getKey());
      if (!endpoint.getRawAuthority().equals(server.getRawAuthority())) {
        LOG.warn("{}: {} is a mirror; mirrors are not used, pulls go to {}", file, key, server);
        continue;
      }
      server = endpoint; // the same host named http:// means plain HTTP
      ca.addAll(caFiles(file, folder, e.getValue(), key + ".ca"));
      skipVerify |= bool(file, e.getValue(), "skip_verify", key + ".skip_verify");
    }
    if (root.has("client")) {
      LOG.warn("{}: client certificates are not supported; sent without one", file);
    }
    return new Host(server, List.copyOf(ca), skipVerify);
  }

  private static URI serverUri(Path file, String key, String value) throws InvalidHostsFile {
    String withScheme = value.contains("://") ? value : "https://" + value;
    URI uri;
    try {
      uri = new URI(withScheme);
    } catch (java.net.URISyntaxException e) {
      throw new InvalidHostsFile(file, key + " is not a URL: " + value);
    }
    if (!Set.of("http", "https").contains(uri.getScheme()) || uri.getRawAuthority() == null) {
      throw new InvalidHostsFile(
          file, key + " must be http://host[:port] or https://...: " + value);
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath().replaceAll("/+$", "");
    if (!path.isEmpty() && !path.equals("/v2")) {
      throw new InvalidHostsFile(file, key + " has a path (" + path + "), which is not supported");
    }
    return URI.create(uri.getScheme() + "://" + uri.getRawAuthority());
  }

  private static String text(Path file, JsonNode node, String key) throws InvalidHostsFile {
    JsonNode v = node.get(key);
    if (!v.isTextual()) {
      throw new InvalidHostsFile(file, key + " must be a string");
    }
    return v.asText();
  }

  private static boolean bool(Path file, JsonNode node, String key, String shown)
      throws InvalidHostsFile {
    JsonNode v = node.get(key);
    if (v == null) {
      return false;
    }
    if (!v.isBoolean()) {
      throw new InvalidHostsFile(file, shown + " must be true or false, not " + v);
    }
    return v.asBoolean();
  }

  /** {@code ca}: one path or a list of paths, relative ones from the registry's folder. */
  private static List<Path> caFiles(Path file, Path folder, JsonNode node, String shown)
      throws InvalidHostsFile {
    JsonNode v = node.get("ca");
    if (v == null) {
      return List.of();
    }
    List<JsonNode> items = new ArrayList<>();
    if (v.isArray()) {
      v.forEach(items::add);
    } else {
      items.add(v);
    }
    List<Path> paths = new ArrayList<>();
    for (JsonNode item : items) {
      if (!item.isTextual()) {
        throw new InvalidHostsFile(file, shown + " must be a path or a list of paths, not " + v);
      }
      Path p = folder.resolve(item.asText());
      if (!Files.isReadable(p)) {
        throw new InvalidHostsFile(file, shown + " names " + p + ", which cannot be read");
      }
      paths.add(p);
    }
    return paths;
  }

  private static String firstLine(String message) {
    return message == null ? "" : message.lines().findFirst().orElse("");
  }

  /** A hosts.toml that cannot be used, named with the key at fault. */
  static final class InvalidHostsFile extends IOException {
    InvalidHostsFile(Path file, String problem) {
      super(file + ": " + problem);
    }
  }
}
