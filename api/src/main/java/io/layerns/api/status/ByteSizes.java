package io.layerns.api.status;

import java.math.BigDecimal;
import java.math.RoundingMode;

/** Byte counts as a person reads them in {@code kubectl get}: binary units, one decimal. */
public final class ByteSizes {
  private static final String[] UNITS = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

  private ByteSizes() {}

  public static String format(long bytes) {
    if (bytes < 1024) {
      return bytes + "B";
    }
    int unit = (63 - Long.numberOfLeadingZeros(bytes)) / 10;
    double value = bytes / Math.pow(1024, unit);
    String number =
        BigDecimal.valueOf(value)
            .setScale(1, RoundingMode.HALF_UP)
            .stripTrailingZeros()
            .toPlainString();
    return number + UNITS[unit];
  }

  /** {@code numerator / denominator} with two decimals, for ratios such as dedup. */
  public static String ratio(long numerator, long denominator) {
    if (denominator <= 0) {
      return "1.00";
    }
    return BigDecimal.valueOf(numerator)
        .divide(BigDecimal.valueOf(denominator), 2, RoundingMode.HALF_UP)
        .toPlainString();
  }
}
