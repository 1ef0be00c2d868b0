package io.layerns.csi.store;

import io.layerns.csi.store.tar.TarEntry;
import io.layerns.csi.store.tar.TarFormatException;
import io.layerns.csi.store.tar.TarReader;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.Map;

/**
 * Streams one compressed layer into a directory in overlay format, verifying the compressed digest
 * and the uncompressed diff ID on the way; nothing is held in memory but headers.
 */
final class LayerUnpacker {
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(LayerUnpacker.class);
  private final UnpackLimits limits;
  private final Runnable afterEntry;

  /** What an unpack produced. */
  /**
   * What an unpack did: the diff ID it verified, the entries and content bytes it wrote, and each
   * regular file's content hash by inode (for the tree manifest).
   */
  record Result(
      Digest diffId,
      long entries,
      long contentBytes,
      Map<Long, TreeManifest.Content> writtenContent) {}

  /**
   * @param afterEntry called after each entry is written; lets crash tests stop the JVM mid-unpack
   */
  LayerUnpacker(UnpackLimits limits, Runnable afterEntry) {
    this.limits = limits;
    this.afterEntry = afterEntry;
  }

  /**
   * Unpacks the blob into {@code root}, an empty directory. On any exception the directory holds a
   * partial tree that the caller must discard.
   *
   * @param expectedDiffId the diff ID the image config names, or null to accept any
   * @throws LayerRefusedException when the layer is unsafe, corrupt, too large or mismatched
   * @throws IOException when the source or the disk fails
   */
  Result unpack(
      Digest layer, Digest expectedDiffId, String mediaType, InputStream source, Path root)
      throws IOException {
    MessageDigest compressedSha = Digest.newSha256();
    MessageDigest uncompressedSha = Digest.newSha256();
    LayerTreeWriter writer = new LayerTreeWriter(root, layer);
    String lastEntry = null;
    long entries = 0;
    try {
      CountingInputStream counted = new CountingInputStream(source);
      BufferedInputStream compressed =
          new BufferedInputStream(
              ReadFailure.tag(
                  new DigestInputStream(counted, compressedSha), ReadFailure.Origin.SOURCE),
              64 * 1024);
      LayerCompression compression = detect(layer, mediaType, compressed);
      InputStream tar =
          new DigestInputStream(
              new BoundedInputStream(
                  ReadFailure.tag(
                      decompressor(layer, compression, compressed),
                      ReadFailure.Origin.DECOMPRESSION),
                  limits.maxUncompressedBytes(),
                  expansionBudget(root, counted)),
              uncompressedSha);
      TarReader reader = new TarReader(tar, limits.tar());
      for (TarEntry entry = reader.next(); entry != null; entry = reader.next()) {
        if (++entries > limits.maxEntries()) {
          throw new LayerRefusedException(
              layer, entry.name(), "the layer has more than " + limits.maxEntries() + " entries");
        }
        writer.apply(entry, reader.content());
        lastEntry = entry.name();
        afterEntry.run();
      }
      writer.finish();
      if (!writer.droppedXattrs().isEmpty()) {
        LOG.info(
            "layer {}: xattrs not set, by name and number of entries: {} (security.selinux and"
                + " system.nfs4_acl are the node's, as umoci unpack drops them; Linux keeps user.*"
                + " on files and directories only)",
            layer,
            writer.droppedXattrs());
      }
      // The end-of-archive padding belongs to the diff ID, and trailing bytes to the digest.
      tar.transferTo(OutputStream.nullOutputStream());
      compressed.transferTo(OutputStream.nullOutputStream());
    } catch (ReadFailure e) {
      if (e.origin() == ReadFailure.Origin.SOURCE) {
        throw (IOException) e.getCause();
      }
      throw new LayerRefusedException(
          layer,
          "compressed stream is corrupt or truncated" + after(lastEntry) + ": " + e.getMessage(),
          e);
    } catch (TarFormatException | BoundedInputStream.LimitExceeded e) {
      throw new LayerRefusedException(layer, e.getMessage() + after(lastEntry), e);
    }
    Digest compressedDigest = Digest.of(compressedSha);
    if (!compressedDigest.equals(layer)) {
      throw new LayerRefusedException(
          layer, "the blob's content has digest " + compressedDigest + " instead");
    }
    Digest diffId = Digest.of(uncompressedSha);
    if (expectedDiffId != null && !diffId.equals(expectedDiffId)) {
      throw new LayerRefusedException(
          layer,
          "the uncompressed content has diff ID "
              + diffId
              + " but the image config says "
              + expectedDiffId);
    }
    return new Result(diffId, entries, writer.contentBytes(), writer.writtenContent());
  }

  /**
   * What the layer may expand to besides the size limit: a bounded ratio to the compressed bytes
   * read so far (past an allowance), and what the store's filesystem can take while leaving the
   * share the kubelet needs free. Both are checked as bytes arrive, before they are written.
   */
  private BoundedInputStream.Budget expansionBudget(Path root, CountingInputStream compressed)
      throws IOException {
    java.nio.file.FileStore disk = java.nio.file.Files.getFileStore(root);
    long keepFree = (long) (disk.getTotalSpace() * limits.minFreeFraction());
    long writable = disk.getUsableSpace() - keepFree;
    return uncompressed -> {
      long read = compressed.count();
      if (uncompressed > limits.expansionAllowanceBytes()
          && uncompressed > read * limits.maxExpansionRatio()) {
        throw new BoundedInputStream.LimitExceeded(
            "the layer expands more than "
                + limits.maxExpansionRatio()
                + " times: "
                + uncompressed
                + " bytes from the first "
                + read
                + " compressed bytes (decompression bomb?)");
      }
      // The tree takes the uncompressed bytes; an import also keeps the blob beside it.
      if (uncompressed + read > writable) {
        throw new BoundedInputStream.NoRoom(
            "unpacking it needs more than the "
                + Math.max(0, writable)
                + " bytes the filesystem can give while keeping "
                + Math.round(limits.minFreeFraction() * 100)
                + "% of it ("
                + keepFree
                + " bytes) free for the node");
      }
    };
  }

  /** Counts the bytes read through it. */
  private static final class CountingInputStream extends java.io.FilterInputStream {
    private long count;

    CountingInputStream(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count += n;
      }
      return n;
    }

    long count() {
      return count;
    }
  }

  private static LayerCompression detect(
      Digest layer, String mediaType, BufferedInputStream compressed) throws IOException {
    byte[] magic = new byte[LayerCompression.MAGIC_BYTES];
    compressed.mark(magic.length);
    int n = compressed.readNBytes(magic, 0, magic.length);
    compressed.reset();
    try {
      return LayerCompression.detect(mediaType, magic, n);
    } catch (IllegalArgumentException e) {
      throw new LayerRefusedException(layer, e.getMessage());
    }
  }

  private static InputStream decompressor(
      Digest layer, LayerCompression compression, InputStream compressed) throws IOException {
    try {
      return compression.decompress(compressed);
    } catch (ReadFailure e) {
      throw e;
    } catch (IOException e) {
      // Decompressors read their header at once; a failure there is a corrupt layer.
      throw new LayerRefusedException(
          layer,
          "not a valid "
              + compression.name().toLowerCase(java.util.Locale.ROOT)
              + " stream: "
              + e.getMessage(),
          e);
    }
  }

  private static String after(String lastEntry) {
    return lastEntry == null ? "" : " (after entry " + LayerRefusedException.quote(lastEntry) + ")";
  }
}
