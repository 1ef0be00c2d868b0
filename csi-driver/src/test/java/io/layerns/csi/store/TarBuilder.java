package io.layerns.csi.store;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.function.Consumer;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/** Builds tar archives for tests with commons-compress, PAX headers for long names and xattrs. */
final class TarBuilder {
  static final Instant MTIME = Instant.parse("2024-05-01T12:00:00Z");

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes);

  TarBuilder() {
    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
    tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
    tar.setAddPaxHeadersForNonAsciiNames(true);
  }

  TarBuilder dir(String name, int mode) {
    return add(entry(name, TarConstants.LF_DIR, mode), null);
  }

  TarBuilder file(String name, String content, int mode) {
    return add(entry(name, TarConstants.LF_NORMAL, mode), content.getBytes(StandardCharsets.UTF_8));
  }

  /** A file whose entry the caller adjusts (owner, xattrs, times) before it is written. */
  TarBuilder file(String name, String content, int mode, Consumer<TarArchiveEntry> adjust) {
    TarArchiveEntry e = entry(name, TarConstants.LF_NORMAL, mode);
    adjust.accept(e);
    return add(e, content.getBytes(StandardCharsets.UTF_8));
  }

  /** A directory whose entry the caller adjusts before it is written. */
  TarBuilder dir(String name, int mode, Consumer<TarArchiveEntry> adjust) {
    TarArchiveEntry e = entry(name, TarConstants.LF_DIR, mode);
    adjust.accept(e);
    return add(e, null);
  }

  TarBuilder file(String name, byte[] content, int mode) {
    return add(entry(name, TarConstants.LF_NORMAL, mode), content);
  }

  TarBuilder symlink(String name, String target) {
    TarArchiveEntry e = entry(name, TarConstants.LF_SYMLINK, 0777);
    e.setLinkName(target);
    return add(e, null);
  }

  TarBuilder hardlink(String name, String target) {
    TarArchiveEntry e = entry(name, TarConstants.LF_LINK, 0644);
    e.setLinkName(target);
    return add(e, null);
  }

  TarBuilder whiteout(String dir, String hidden) {
    return file(dir.isEmpty() ? ".wh." + hidden : dir + "/.wh." + hidden, "", 0644);
  }

  TarBuilder opaque(String dir) {
    return file(dir + "/.wh..wh..opq", "", 0644);
  }

  TarBuilder device(String name, byte type, int major, int minor) {
    TarArchiveEntry e = entry(name, type, 0666);
    e.setDevMajor(major);
    e.setDevMinor(minor);
    return add(e, null);
  }

  /** Adds a raw entry whose fields the caller sets; for hostile cases. */
  TarBuilder raw(TarArchiveEntry e, byte[] content) {
    return add(e, content);
  }

  TarArchiveEntry entry(String name, byte type, int mode) {
    // preserveAbsolutePath: hostile cases need names exactly as written.
    TarArchiveEntry e = new TarArchiveEntry(name, type, true);
    e.setMode(mode);
    e.setLastModifiedTime(FileTime.from(MTIME));
    e.setUserId(0);
    e.setGroupId(0);
    return e;
  }

  /** Adds an entry built with {@link #entry} and adjusted by the caller. */
  TarBuilder add(TarArchiveEntry e, byte[] content) {
    try {
      if (content != null) {
        e.setSize(content.length);
      }
      tar.putArchiveEntry(e);
      if (content != null) {
        tar.write(content);
      }
      tar.closeArchiveEntry();
      return this;
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  byte[] build() {
    try {
      tar.finish();
      tar.close();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  TestLayer layer(LayerCompression compression) {
    return TestLayer.of(build(), compression);
  }
}
