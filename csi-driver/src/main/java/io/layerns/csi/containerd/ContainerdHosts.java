package io.layerns.csi.containerd;

import io.layerns.csi.registry.RegistryHosts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes containerd's registry host configuration ({@code <config_path>/<host[:port]>/hosts.toml},
 * containerd's {@code docs/hosts.md}) so that containerd asks this node's registry mirror first for
 * each configured upstream registry, then the registry itself. containerd reads these files at
 * every pull, so no restart is needed.
 *
 * <p>Only files that start with {@link #HEADER} are this class's: it writes them (temp file, then
 * rename, so containerd never reads half a file) and removes them when their registry leaves the
 * list. A {@code hosts.toml} without the header is the admin's and is never touched; that registry
 * is reported {@link Refusal refused}. Docker-style certificate files an admin put in a registry's
 * folder ({@code *.crt} CAs, {@code *.cert}/{@code *.key} client pairs), which containerd uses only
 * while no {@code hosts.toml} exists, are carried into the written file so they keep working.
 */
public final class ContainerdHosts {

  /** The first line of every file this class writes; a file without it is the admin's. */
  public static final String HEADER = "# Written by layerns (node plugin, registry mirror).";

  static final String HOSTS_FILE = "hosts.toml";

  /**
   * Upstream CAs from the plugin's own registry settings, copied beside the file for containerd.
   */
  static final String UPSTREAM_CA_FILE = "layerns-upstream-ca.crt";

  /** host, IPv4 or bracketed IPv6, with an optional port: what containerd names a folder by. */
  private static final Pattern REGISTRY =
      Pattern.compile(
          "(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?");

  /**
   * A registry whose file was left alone.
   *
   * @param registry host[:port] as listed
   * @param file the admin's file that containerd reads for it
   * @param reason what an admin reads in the log and the event
   */
  public record Refusal(String registry, Path file, String reason) {}

  /**
   * What one {@link #sync} did.
   *
   * @param written registries whose file was created or changed
   * @param unchanged registries whose file already said the same
   * @param refused registries whose folder holds the admin's own hosts.toml
   * @param removed files of this class removed because their registry left the list
   */
  public record Outcome(
      List<String> written, List<String> unchanged, List<Refusal> refused, List<Path> removed) {
    public boolean changedSomething() {
      return !written.isEmpty() || !removed.isEmpty();
    }
  }

  /**
   * The node plugin's settings for this: {@value #REGISTRIES} (comma-separated {@code host[:port]},
   * empty = write nothing) and {@value #DIR} (containerd's {@code config_path} as mounted in the
   * plugin, default {@code /etc/containerd/certs.d}).
   */
  public record Settings(List<String> registries, Path dir) {
    public static final String REGISTRIES = "LAYERNS_MIRROR_REGISTRIES";
    public static final String DIR = "LAYERNS_CONTAINERD_HOSTS_DIR";
    public static final Path DEFAULT_DIR = Path.of("/etc/containerd/certs.d");

    public Settings {
      registries = List.copyOf(registries);
    }

    public static Settings parse(java.util.Map<String, String> env) {
      String d = env.getOrDefault(DIR, "").trim();
      return new Settings(
          parseRegistries(env.getOrDefault(REGISTRIES, "")),
          d.isEmpty() ? DEFAULT_DIR : Path.of(d));
    }
  }

  private final Path dir;
  private final URI mirror;
  private final Function<String, Optional<RegistryHosts.Host>> upstreams;

  /**
   * @param dir containerd's {@code config_path} as this process sees it
   * @param mirror the registry mirror's base URL as containerd reaches it ({@code http://...})
   * @param upstreams how the plugin itself reaches a registry (plain HTTP, CAs, skip_verify); empty
   *     for https with the system's CAs
   */
  public ContainerdHosts(
      Path dir, URI mirror, Function<String, Optional<RegistryHosts.Host>> upstreams) {
    this.dir = dir;
    this.mirror = mirror;
    this.upstreams = upstreams;
  }

  /**
   * Parses the comma-separated {@code host[:port]} list of {@code LAYERNS_MIRROR_REGISTRIES}; blank
   * means none.
   *
   * @throws IllegalArgumentException naming an entry that is no registry host
   */
  public static List<String> parseRegistries(String list) {
    Set<String> out = new LinkedHashSet<>();
    for (String entry : list.split(",")) {
      String r = entry.trim();
      if (r.isEmpty()) {
        continue;
      }
      if (!REGISTRY.matcher(r).matches()) {
        throw new IllegalArgumentException(
            "LAYERNS_MIRROR_REGISTRIES entry '"
                + r
                + "' is not a registry host[:port] as image references name it"
                + " (no scheme, no path), e.g. registry.example:5000");
      }
      out.add(r);
    }
    return List.copyOf(out);
  }

  /**
   * The folder containerd reads for {@code registry}: for {@code host:port} it tries {@code
   * host_port_} first, then {@code host:port}, and takes the first that exists.
   */
  Path folderOf(String registry) {
    Optional<String> alt = underscoreName(registry);
    if (alt.isPresent() && Files.isDirectory(dir.resolve(alt.get()))) {
      return dir.resolve(alt.get());
    }
    return dir.resolve(registry);
  }

  private static Optional<String> underscoreName(String registry) {
    int colon = registry.lastIndexOf(':');
    if (colon < 0 || registry.endsWith("]")) {
      return Optional.empty();
    }
    String host = registry.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return Optional.of(host + "_" + registry.substring(colon + 1) + "_");
  }

  /** Brings the folder in line with {@code registries}: writes, keeps, refuses and removes. */
  public Outcome sync(List<String> registries) throws IOException {
    Files.createDirectories(dir);
    List<String> written = new ArrayList<>();
    List<String> unchanged = new ArrayList<>();
    List<Refusal> refused = new ArrayList<>();
    Set<Path> ours = new LinkedHashSet<>();
    for (String registry : registries) {
      Path folder = folderOf(registry);
      Path file = folder.resolve(HOSTS_FILE);
      if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !writtenByUs(file)) {
        refused.add(
            new Refusal(
                registry,
                file,
                file
                    + " exists and was not written by layerns, so containerd does not use this"
                    + " node's mirror for "
                    + registry
                    + "; add [host.\""
                    + mirror
                    + "\"] with capabilities = [\"pull\", \"resolve\"] to it, or delete it to let"
                    + " layerns write it"));
        continue;
      }
      ours.add(file);
      String text = render(registry, folder);
      if (Files.isRegularFile(file)
          && Files.readString(file, StandardCharsets.UTF_8).equals(text)) {
        unchanged.add(registry);
        continue;
      }
      Files.createDirectories(folder);
      Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwxr-xr-x"));
      writeAtomically(file, text.getBytes(StandardCharsets.UTF_8));
      written.add(registry);
    }
    List<Path> removed = removeOthers(ours);
    return new Outcome(
        List.copyOf(written), List.copyOf(unchanged), List.copyOf(refused), List.copyOf(removed));
  }

  /** The file for {@code registry} in {@code folder}; copies upstream CAs beside it first. */
  String render(String registry, Path folder) throws IOException {
    Optional<RegistryHosts.Host> configured = upstreams.apply(registry);
    URI server =
        configured.map(RegistryHosts.Host::server).orElse(URI.create("https://" + registry));
    List<String> ca = new ArrayList<>();
    List<String[]> clients = new ArrayList<>();
    // What the admin put in the folder for containerd's certificate-file fallback.
    if (Files.isDirectory(folder)) {
      try (Stream<Path> s = Files.list(folder)) {
        for (Path p : s.sorted().toList()) {
          String name = p.getFileName().toString();
          if (name.startsWith("layerns-") || !Files.isRegularFile(p)) {
            continue;
          }
          if (name.endsWith(".crt")) {
            ca.add(name);
          } else if (name.endsWith(".cert")) {
            String key = name.substring(0, name.length() - ".cert".length()) + ".key";
            if (Files.isRegularFile(folder.resolve(key))) {
              clients.add(new String[] {name, key});
            }
          }
        }
      }
    }
    if (configured.isPresent() && !configured.get().caFiles().isEmpty()) {
      StringBuilder pem = new StringBuilder();
      for (Path f : configured.get().caFiles()) {
        String text = Files.readString(f, StandardCharsets.UTF_8);
        pem.append(text.endsWith("\n") ? text : text + "\n");
      }
      Files.createDirectories(folder);
      Path caFile = folder.resolve(UPSTREAM_CA_FILE);
      byte[] bytes = pem.toString().getBytes(StandardCharsets.UTF_8);
      if (!Files.isRegularFile(caFile) || !Arrays.equals(Files.readAllBytes(caFile), bytes)) {
        writeAtomically(caFile, bytes);
      }
      ca.add(UPSTREAM_CA_FILE);
    }
    StringBuilder b = new StringBuilder();
    b.append(HEADER).append('\n');
    b.append("# containerd asks this node's mirror first for ")
        .append(registry)
        .append(", then the registry.\n");
    b.append("# layerns rewrites this file, and removes it when ")
        .append(registry)
        .append(" leaves LAYERNS_MIRROR_REGISTRIES.\n");
    b.append(
        "# To keep your own edits, delete the first line: layerns then leaves the file alone.\n");
    b.append("server = ").append(quote(server.toString())).append('\n');
    if (configured.map(RegistryHosts.Host::skipVerify).orElse(false)) {
      b.append("skip_verify = true\n");
    }
    if (!ca.isEmpty()) {
      b.append("ca = ").append(array(ca)).append('\n');
    }
    if (!clients.isEmpty()) {
      b.append("client = [");
      for (int i = 0; i < clients.size(); i++) {
        b.append(i == 0 ? "" : ", ").append(array(List.of(clients.get(i))));
      }
      b.append("]\n");
    }
    b.append('\n');
    // Plain HTTP on the node's loopback; "resolve" lets containerd ask it for manifests by digest
    // (a tag the mirror does not serve answers 404, and containerd asks the registry).
    b.append("[host.").append(quote(mirror.toString())).append("]\n");
    b.append("  capabilities = [\"pull\", \"resolve\"]\n");
    return b.toString();
  }

  /** Removes this class's files (and folders it leaves empty) that are not in {@code keep}. */
  private List<Path> removeOthers(Set<Path> keep) throws IOException {
    List<Path> removed = new ArrayList<>();
    List<Path> folders;
    try (Stream<Path> s = Files.list(dir)) {
      folders = s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
    }
    for (Path folder : folders) {
      Path file = folder.resolve(HOSTS_FILE);
      if (keep.contains(file) || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      if (!writtenByUs(file)) {
        continue;
      }
      Files.deleteIfExists(file);
      Files.deleteIfExists(folder.resolve(UPSTREAM_CA_FILE));
      removed.add(file);
      try {
        Files.deleteIfExists(folder);
      } catch (DirectoryNotEmptyException e) {
        // The admin's certificate files stay, as before layerns wrote here.
      }
    }
    return removed;
  }

  static boolean writtenByUs(Path file) throws IOException {
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    try (var in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return HEADER.equals(in.readLine());
    } catch (NoSuchFileException e) {
      return false;
    } catch (java.nio.charset.MalformedInputException e) {
      return false;
    }
  }

  /** Temp file in the same folder, then rename: a reader sees the old file or the new, whole. */
  private static void writeAtomically(Path file, byte[] bytes) throws IOException {
    Path tmp = file.resolveSibling("." + file.getFileName() + ".layerns-tmp");
    Files.write(tmp, bytes);
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.deleteIfExists(tmp);
      throw new UncheckedIOException("cannot rename atomically in " + file.getParent(), e);
    }
  }

  private static String array(List<String> items) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < items.size(); i++) {
      b.append(i == 0 ? "" : ", ").append(quote(items.get(i)));
    }
    return b.append(']').toString();
  }

  /** A TOML basic string. */
  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
