package io.layerns.csi.store.tar;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A streaming tar reader (ustar, PAX, GNU long names) that bounds every header it buffers and keeps
 * extended attribute values as raw bytes.
 *
 * <p>Why not commons-compress's reader: it decodes PAX values as UTF-8 strings, which corrupts
 * binary xattrs such as {@code security.capability}, and it sizes its header buffers from the
 * archive. Here each header is checked against {@link TarLimits} before anything is allocated.
 */
public final class TarReader {
  private static final int BLOCK = 512;
  private static final String XATTR_PREFIX = "SCHILY.xattr.";
  private static final int XATTR_NAME_MAX = 255;

  private final InputStream in;
  private final TarLimits limits;
  private final byte[] header = new byte[BLOCK];
  private long remaining;
  private long padding;
  private boolean finished;
  private boolean anyHeader;

  public TarReader(InputStream in, TarLimits limits) {
    this.in = in;
    this.limits = limits;
  }

  /**
   * Reads the next member's headers, skipping what is left of the previous member's content.
   *
   * @return the member, or null at the end-of-archive marker
   */
  public TarEntry next() throws IOException {
    skipContent();
    if (finished) {
      return null;
    }
    Map<String, byte[]> pax = new LinkedHashMap<>();
    int paxBytes = 0;
    String longName = null;
    String longLink = null;
    while (true) {
      if (!readBlock()) {
        finished = true;
        if (!anyHeader) {
          return null; // an empty stream is an empty layer
        }
        throw new TarFormatException("archive is truncated: no end-of-archive marker");
      }
      anyHeader = true;
      if (isZero(header)) {
        finished = true;
        return null;
      }
      verifyChecksum();
      char flag = (char) (header[156] & 0xff);
      long size = number(124, 12, "size");
      switch (flag) {
        case 'x' -> {
          int n = checkedSize(size, limits.maxExtendedHeaderBytes() - paxBytes, "PAX header");
          paxBytes += n;
          parsePax(readData(n), pax);
        }
        // Global headers carry archive-wide defaults that no image builder relies on.
        case 'g' -> readData(checkedSize(size, limits.maxExtendedHeaderBytes(), "global header"));
        case 'L' ->
            longName = cString(readData(checkedSize(size, limits.maxNameBytes() + 1, "long name")));
        case 'K' ->
            longLink = cString(readData(checkedSize(size, limits.maxNameBytes() + 1, "long link")));
        default -> {
          return entry(flag, size, pax, longName, longLink);
        }
      }
    }
  }

  /** The current member's content; reading past its end returns -1. */
  public InputStream content() {
    return new InputStream() {
      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (remaining == 0) {
          return -1;
        }
        int n = in.read(b, off, (int) Math.min(len, remaining));
        if (n < 0) {
          throw new TarFormatException("archive is truncated inside a file's content");
        }
        remaining -= n;
        return n;
      }
    };
  }

  private TarEntry entry(
      char flag, long headerSize, Map<String, byte[]> pax, String longName, String longLink)
      throws IOException {
    String name = pax.containsKey("path") ? utf8(pax.get("path"), "name") : longName;
    if (name == null) {
      name = headerName();
    }
    String linkName =
        pax.containsKey("linkpath") ? utf8(pax.get("linkpath"), "link name") : longLink;
    if (linkName == null) {
      linkName = field(157, 100, "link name");
    }
    checkNameLength(name, "name");
    checkNameLength(linkName, "link target");
    for (String key : pax.keySet()) {
      if (key.startsWith("GNU.sparse.")) {
        throw new TarFormatException("entry \"" + name + "\": sparse files are not supported");
      }
    }
    TarEntry.Type type = type(flag, name);
    long size = pax.containsKey("size") ? decimal(pax.get("size"), "size") : headerSize;
    remaining = size;
    padding = (BLOCK - size % BLOCK) % BLOCK;
    if (type != TarEntry.Type.REGULAR) {
      // Only regular files have content to unpack; whatever else a size covers is skipped here.
      size = 0;
      skipContent();
    }
    long uid = pax.containsKey("uid") ? decimal(pax.get("uid"), "uid") : number(108, 8, "uid");
    long gid = pax.containsKey("gid") ? decimal(pax.get("gid"), "gid") : number(116, 8, "gid");
    long mtime = number(136, 12, "mtime");
    int nanos = 0;
    if (pax.containsKey("mtime")) {
      BigDecimal exact = parseTime(pax.get("mtime"));
      BigDecimal seconds = exact.setScale(0, RoundingMode.FLOOR);
      mtime = seconds.longValueExact();
      nanos = exact.subtract(seconds).movePointRight(9).intValue();
    }
    return new TarEntry(
        name,
        type,
        flag,
        size,
        (int) (number(100, 8, "mode") & 07777),
        uid,
        gid,
        mtime,
        nanos,
        linkName,
        number(329, 8, "devmajor"),
        number(337, 8, "devminor"),
        xattrs(name, pax));
  }

  private static TarEntry.Type type(char flag, String name) {
    return switch (flag) {
      case '0', '\0', '7' -> name.endsWith("/") ? TarEntry.Type.DIRECTORY : TarEntry.Type.REGULAR;
      case '1' -> TarEntry.Type.HARDLINK;
      case '2' -> TarEntry.Type.SYMLINK;
      case '3' -> TarEntry.Type.CHARACTER_DEVICE;
      case '4' -> TarEntry.Type.BLOCK_DEVICE;
      case '5' -> TarEntry.Type.DIRECTORY;
      case '6' -> TarEntry.Type.FIFO;
      default -> TarEntry.Type.UNSUPPORTED;
    };
  }

  private Map<String, byte[]> xattrs(String name, Map<String, byte[]> pax)
      throws TarFormatException {
    Map<String, byte[]> xattrs = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> e : pax.entrySet()) {
      if (!e.getKey().startsWith(XATTR_PREFIX)) {
        continue;
      }
      String xattr = e.getKey().substring(XATTR_PREFIX.length());
      if (xattr.isEmpty() || xattr.getBytes(StandardCharsets.UTF_8).length > XATTR_NAME_MAX) {
        throw new TarFormatException(
            "entry \""
                + name
                + "\": xattr name \""
                + xattr
                + "\" is empty or longer than 255 bytes");
      }
      if (e.getValue().length > limits.maxXattrValueBytes()) {
        throw new TarFormatException(
            "entry \"%s\": xattr %s of %d bytes exceeds the limit of %d bytes"
                .formatted(name, xattr, e.getValue().length, limits.maxXattrValueBytes()));
      }
      xattrs.put(xattr, e.getValue());
    }
    if (xattrs.size() > limits.maxXattrsPerEntry()) {
      throw new TarFormatException(
          "entry \"%s\": %d xattrs exceed the limit of %d"
              .formatted(name, xattrs.size(), limits.maxXattrsPerEntry()));
    }
    return Collections.unmodifiableMap(xattrs);
  }

  private void parsePax(byte[] data, Map<String, byte[]> pax) throws TarFormatException {
    int pos = 0;
    while (pos < data.length && data[pos] != 0) {
      int space = indexOf(data, (byte) ' ', pos, data.length);
      int length = space < 0 ? -1 : parseLength(data, pos, space);
      int end = pos + length;
      if (length <= 0 || end > data.length || end <= space || data[end - 1] != '\n') {
        throw new TarFormatException("malformed PAX extended header record");
      }
      int equals = indexOf(data, (byte) '=', space + 1, end);
      if (equals < 0) {
        throw new TarFormatException("malformed PAX extended header record");
      }
      String key = utf8(Arrays.copyOfRange(data, space + 1, equals), "PAX key");
      byte[] value = Arrays.copyOfRange(data, equals + 1, end - 1);
      if (value.length == 0) {
        pax.remove(key); // an empty value cancels the key, as POSIX specifies
      } else {
        pax.put(key, value);
      }
      pos = end;
    }
  }

  private static int parseLength(byte[] data, int from, int to) {
    long v = 0;
    if (from == to || to - from > 9) {
      return -1;
    }
    for (int i = from; i < to; i++) {
      if (data[i] < '0' || data[i] > '9') {
        return -1;
      }
      v = v * 10 + (data[i] - '0');
    }
    return (int) v;
  }

  private static int indexOf(byte[] data, byte b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (data[i] == b) {
        return i;
      }
    }
    return -1;
  }

  private String headerName() throws TarFormatException {
    String name = field(0, 100, "name");
    boolean posixUstar =
        header[257] == 'u'
            && Arrays.equals(header, 257, 263, "ustar\0".getBytes(StandardCharsets.US_ASCII), 0, 6);
    if (posixUstar) {
      String prefix = field(345, 155, "name prefix");
      if (!prefix.isEmpty()) {
        return prefix + "/" + name;
      }
    }
    return name;
  }

  private String field(int offset, int length, String what) throws TarFormatException {
    int end = offset;
    while (end < offset + length && header[end] != 0) {
      end++;
    }
    return utf8(Arrays.copyOfRange(header, offset, end), what);
  }

  private static String cString(byte[] data) throws TarFormatException {
    int end = indexOf(data, (byte) 0, 0, data.length);
    return utf8(Arrays.copyOf(data, end < 0 ? data.length : end), "long name");
  }

  private static String utf8(byte[] bytes, String what) throws TarFormatException {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new TarFormatException(what + " is not valid UTF-8");
    }
  }

  private void checkNameLength(String name, String what) throws TarFormatException {
    int bytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > limits.maxNameBytes()) {
      throw new TarFormatException(
          "%s of %d bytes exceeds the limit of %d bytes (\"%s...\")"
              .formatted(
                  what,
                  bytes,
                  limits.maxNameBytes(),
                  name.substring(0, Math.min(40, name.length()))));
    }
  }

  private static int checkedSize(long size, int limit, String what) throws TarFormatException {
    if (size > limit) {
      throw new TarFormatException(
          "%s of %d bytes exceeds the limit of %d bytes".formatted(what, size, Math.max(0, limit)));
    }
    return (int) size;
  }

  private static long decimal(byte[] value, String what) throws TarFormatException {
    try {
      long v = Long.parseLong(new String(value, StandardCharsets.US_ASCII));
      if (v >= 0) {
        return v;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new TarFormatException("PAX " + what + " is not a non-negative number");
  }

  private static BigDecimal parseTime(byte[] value) throws TarFormatException {
    try {
      return new BigDecimal(new String(value, StandardCharsets.US_ASCII));
    } catch (NumberFormatException e) {
      throw new TarFormatException("PAX mtime is not a number");
    }
  }

  /** Parses an octal field, or a base-256 one (first byte 0x80) for values octal cannot hold. */
  private long number(int offset, int length, String what) throws TarFormatException {
    int first = header[offset] & 0xff;
    if ((first & 0x80) != 0) {
      if (first == 0xff) {
        throw new TarFormatException("header field " + what + " is negative");
      }
      long v = first & 0x7f;
      for (int i = offset + 1; i < offset + length; i++) {
        if (v > (Long.MAX_VALUE >> 8)) {
          throw new TarFormatException("header field " + what + " is too large");
        }
        v = (v << 8) | (header[i] & 0xff);
      }
      return v;
    }
    int i = offset;
    int end = offset + length;
    while (i < end && (header[i] == ' ' || header[i] == 0)) {
      i++;
    }
    long v = 0;
    for (; i < end && header[i] >= '0' && header[i] <= '7'; i++) {
      if (v > (Long.MAX_VALUE >> 3)) {
        throw new TarFormatException("header field " + what + " is too large");
      }
      v = v * 8 + (header[i] - '0');
    }
    for (; i < end; i++) {
      if (header[i] != ' ' && header[i] != 0) {
        throw new TarFormatException("header field " + what + " is not an octal number");
      }
    }
    return v;
  }

  private void verifyChecksum() throws TarFormatException {
    long stored = number(148, 8, "checksum");
    long unsigned = 0;
    long signed = 0;
    for (int i = 0; i < BLOCK; i++) {
      byte b = (i >= 148 && i < 156) ? (byte) ' ' : header[i];
      unsigned += b & 0xff;
      signed += b;
    }
    if (stored != unsigned && stored != signed) {
      throw new TarFormatException("header checksum mismatch: not a tar archive, or corrupt");
    }
  }

  private boolean readBlock() throws IOException {
    int n = in.readNBytes(header, 0, BLOCK);
    if (n == 0) {
      return false;
    }
    if (n < BLOCK) {
      throw new TarFormatException("archive is truncated inside a header");
    }
    return true;
  }

  private byte[] readData(int size) throws IOException {
    byte[] data = in.readNBytes(size);
    if (data.length < size) {
      throw new TarFormatException("archive is truncated inside an extended header");
    }
    skipBytes((BLOCK - size % BLOCK) % BLOCK);
    return data;
  }

  private void skipContent() throws IOException {
    skipBytes(remaining);
    skipBytes(padding);
    remaining = 0;
    padding = 0;
  }

  private void skipBytes(long n) throws IOException {
    byte[] scratch = new byte[8192];
    while (n > 0) {
      int r = in.read(scratch, 0, (int) Math.min(scratch.length, n));
      if (r < 0) {
        throw new TarFormatException("archive is truncated");
      }
      n -= r;
    }
  }

  private static boolean isZero(byte[] block) {
    for (byte b : block) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }
}
