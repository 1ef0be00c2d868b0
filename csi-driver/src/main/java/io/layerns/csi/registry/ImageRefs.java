package io.layerns.csi.registry;

import io.layerns.csi.store.Digest;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The store's small tag index: which manifest digest a tag pointed at when this node last pulled
 * it, so that a tag can be served and remounted without asking the registry.
 *
 * <pre>
 * root/refs/REGISTRY/REPOSITORY/_tags/TAG    one line: sha256:...
 * </pre>
 *
 * <p>The reference grammar keeps every part a safe file name: no component may be empty, start with
 * '.' or hold '/', and {@code _tags} cannot be a repository component (those start with a letter or
 * digit). Files are written under the store's tmp/ and renamed into place.
 */
public final class ImageRefs {
  private static final String TAGS = "_tags";

  private final Path refs;
  private final Path tmp;

  /** The index of the store rooted at {@code storeRoot}. */
  public ImageRefs(Path storeRoot) {
    this.refs = storeRoot.resolve("refs");
    this.tmp = storeRoot.resolve("tmp");
  }

  /** Records that {@code image}'s tag points at {@code manifest}; does nothing without a tag. */
  public void record(ImageReference image, Digest manifest) throws IOException {
    if (image.tag() == null) {
      return;
    }
    Path file = tagFile(image.registry(), image.repository(), image.tag());
    Files.createDirectories(file.getParent());
    Files.createDirectories(tmp);
    Path work = Files.createTempFile(tmp, "ref-", "");
    try {
      try (FileChannel ch = FileChannel.open(work, StandardOpenOption.WRITE)) {
        ch.write(StandardCharsets.UTF_8.encode(manifest + "\n"));
        ch.force(true);
      }
      Files.move(work, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(work);
    }
  }

  /** The digest {@code image}'s tag pointed at when last pulled here. */
  public Optional<Digest> lookup(ImageReference image) throws IOException {
    if (image.tag() == null) {
      return Optional.empty();
    }
    return read(tagFile(image.registry(), image.repository(), image.tag()));
  }

  /**
   * Finds a tag by a repository name as a client of the HTTP export gives it: either {@code
   * registry/repository} or a bare repository, matched under any registry. A bare name that matches
   * different digests under several registries is ambiguous and not found.
   */
  public Optional<Digest> lookup(String name, String tag) throws IOException {
    if (!isSafe(name) || !isSafe(tag) || tag.contains("/")) {
      return Optional.empty();
    }
    Optional<Digest> exact = read(refs.resolve(name).resolve(TAGS).resolve(tag));
    if (exact.isPresent() || !Files.isDirectory(refs)) {
      return exact;
    }
    List<Digest> found = new ArrayList<>();
    try (DirectoryStream<Path> registries = Files.newDirectoryStream(refs)) {
      for (Path registry : registries) {
        read(registry.resolve(name).resolve(TAGS).resolve(tag))
            .filter(d -> !found.contains(d))
            .ifPresent(found::add);
      }
    }
    return found.size() == 1 ? Optional.of(found.getFirst()) : Optional.empty();
  }

  private Path tagFile(String registry, String repository, String tag) {
    return refs.resolve(registry).resolve(repository).resolve(TAGS).resolve(tag);
  }

  private static Optional<Digest> read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(Digest.parse(Files.readString(file, StandardCharsets.UTF_8).trim()));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IllegalArgumentException e) {
      throw new IOException("tag index entry " + file + " is corrupt: " + e.getMessage(), e);
    }
  }

  /** Whether an untrusted name is made of plain path components only. */
  private static boolean isSafe(String name) {
    if (name == null || name.isEmpty() || name.length() > 512) {
      return false;
    }
    for (String part : name.split("/", -1)) {
      if (part.isEmpty() || part.startsWith(".") || part.equals(TAGS) || part.contains("\0")) {
        return false;
      }
    }
    return true;
  }
}
