package io.layerns.csi.node;

import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.Trees;
import io.layerns.csi.store.posix.Posix;
import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/**
 * Per-volume folders under the plugin's state directory: {@code volumes/<sha256 of volume
 * id>/state.properties}, plus {@code upper/} and {@code work/} for a writable volume.
 *
 * <p>A properties file, not JSON: it is small, human-readable, and needs no library. It is written
 * to a temporary file and renamed, so a crash leaves the old or the new state, never half.
 */
public final class VolumeStateStore {

  private static final String STATE_FILE = "state.properties";

  private final Path volumesDir;

  public VolumeStateStore(Path stateDir) {
    this.volumesDir = stateDir.resolve("volumes");
  }

  /**
   * The state store of the plugin's state folder, which is made (when missing) and kept root's
   * alone: it holds writable volumes' upper layers, remote layer mounts and overlay shims, none of
   * which a host user may reach.
   */
  public static VolumeStateStore open(Path stateDir) throws IOException {
    Files.createDirectories(stateDir);
    Posix.chmod(stateDir, LocalLayerStore.PRIVATE_DIRECTORY_MODE);
    return new VolumeStateStore(stateDir);
  }

  /** The folder of one volume; holds its state file and, when writable, its upper layer. */
  public Path volumeDir(String volumeId) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(volumeId.getBytes(StandardCharsets.UTF_8));
      // Volume ids are opaque strings; hashing makes any of them a safe, fixed-length name.
      return volumesDir.resolve(HexFormat.of().formatHex(digest));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where a writable volume's upper layer goes. */
  public Path upperDir(String volumeId) {
    return volumeDir(volumeId).resolve("upper");
  }

  /** Where a writable volume's overlay work directory goes. */
  public Path workDir(String volumeId) {
    return volumeDir(volumeId).resolve("work");
  }

  public void save(VolumeState s) throws IOException {
    Properties p = new Properties();
    p.setProperty("volumeId", s.volumeId());
    p.setProperty("targetPath", s.targetPath().toString());
    p.setProperty("image", s.image());
    p.setProperty("readOnly", Boolean.toString(s.readOnly()));
    p.setProperty("layers", Integer.toString(s.layers().size()));
    for (int i = 0; i < s.layers().size(); i++) {
      p.setProperty("layer." + i, s.layers().get(i).toString());
    }
    if (s.pod() != null) {
      p.setProperty("pod", s.pod());
    }
    if (s.upperDir() != null) {
      p.setProperty("upperDir", s.upperDir().toString());
      p.setProperty("workDir", s.workDir().toString());
    }
    Path dir = volumeDir(s.volumeId());
    Files.createDirectories(dir);
    Path tmp = dir.resolve(STATE_FILE + ".tmp");
    try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      p.store(w, "layerns CSI volume state; layer.0 is the base layer");
    }
    Files.move(
        tmp,
        dir.resolve(STATE_FILE),
        StandardCopyOption.ATOMIC_MOVE,
        StandardCopyOption.REPLACE_EXISTING);
  }

  public Optional<VolumeState> load(String volumeId) throws IOException {
    return read(volumeDir(volumeId).resolve(STATE_FILE));
  }

  /** Every volume with a state file, in no particular order. */
  public List<VolumeState> loadAll() throws IOException {
    List<VolumeState> out = new ArrayList<>();
    if (!Files.isDirectory(volumesDir)) {
      return out;
    }
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(volumesDir)) {
      for (Path d : dirs) {
        read(d.resolve(STATE_FILE)).ifPresent(out::add);
      }
    }
    return out;
  }

  /**
   * Deletes the volume's folder: its upper layer, work directory and state file, the state file
   * last so that an interrupted delete is retried. The caller has unmounted the overlay.
   */
  public void delete(String volumeId) throws IOException {
    Path dir = volumeDir(volumeId);
    if (!Files.exists(dir)) {
      return;
    }
    Path state = dir.resolve(STATE_FILE);
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path e : entries) {
        if (!e.equals(state)) {
          Trees.delete(e);
        }
      }
    }
    Files.deleteIfExists(state);
    Files.deleteIfExists(dir);
  }

  private Optional<VolumeState> read(Path file) throws IOException {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
    try {
      int n = Integer.parseInt(p.getProperty("layers"));
      List<Path> layers = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        layers.add(Path.of(required(p, "layer." + i)));
      }
      String upper = p.getProperty("upperDir");
      String work = p.getProperty("workDir");
      return Optional.of(
          new VolumeState(
              required(p, "volumeId"),
              Path.of(required(p, "targetPath")),
              required(p, "image"),
              Boolean.parseBoolean(required(p, "readOnly")),
              layers,
              upper == null ? null : Path.of(upper),
              work == null ? null : Path.of(work),
              p.getProperty("pod")));
    } catch (RuntimeException e) {
      throw new IOException("corrupt volume state " + file + ": " + e.getMessage(), e);
    }
  }

  private static String required(Properties p, String key) {
    String v = p.getProperty(key);
    if (v == null) {
      throw new IllegalArgumentException("missing " + key);
    }
    return v;
  }
}
