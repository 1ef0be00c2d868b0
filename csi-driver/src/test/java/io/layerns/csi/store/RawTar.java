package io.layerns.csi.store;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Writes tar bytes by hand, for what commons-compress will not write: binary PAX values and names
 * with NUL bytes.
 */
final class RawTar {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  /** A PAX extended header whose records apply to the next entry. */
  RawTar pax(Map<String, byte[]> records) {
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    for (Map.Entry<String, byte[]> r : records.entrySet()) {
      byte[] key = r.getKey().getBytes(StandardCharsets.UTF_8);
      int rest = 1 + key.length + 1 + r.getValue().length + 1; // " key=value\n"
      int length = rest + Integer.toString(rest).length();
      if (Integer.toString(length).length() != Integer.toString(rest).length()) {
        length++;
      }
      data.writeBytes((length + " ").getBytes(StandardCharsets.US_ASCII));
      data.writeBytes(key);
      data.write('=');
      data.writeBytes(r.getValue());
      data.write('\n');
    }
    return entry("PaxHeaders/x", 'x', data.toByteArray());
  }

  RawTar file(String name, String content) {
    return entry(name, '0', content.getBytes(StandardCharsets.UTF_8));
  }

  RawTar entry(String name, char type, byte[] content) {
    byte[] h = new byte[512];
    put(h, 0, name.getBytes(StandardCharsets.UTF_8), 100);
    put(h, 100, octal(0644, 8), 8);
    put(h, 108, octal(0, 8), 8);
    put(h, 116, octal(0, 8), 8);
    put(h, 124, octal(content.length, 12), 12);
    put(h, 136, octal(1_700_000_000L, 12), 12);
    h[156] = (byte) type;
    put(h, 257, "ustar\0".getBytes(StandardCharsets.US_ASCII), 6);
    put(h, 263, "00".getBytes(StandardCharsets.US_ASCII), 2);
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    put(h, 148, octal(sum, 8), 8);
    out.writeBytes(h);
    out.writeBytes(content);
    out.writeBytes(new byte[(512 - content.length % 512) % 512]);
    return this;
  }

  byte[] build() {
    out.writeBytes(new byte[1024]);
    return out.toByteArray();
  }

  private static void put(byte[] h, int offset, byte[] value, int max) {
    System.arraycopy(value, 0, h, offset, Math.min(value.length, max));
  }

  private static byte[] octal(long value, int width) {
    String s = String.format("%0" + (width - 1) + "o", value);
    byte[] b = new byte[width];
    System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, b, 0, width - 1);
    return b;
  }
}
