package io.layerns.csi.registry;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One challenge from a {@code WWW-Authenticate} header, such as {@code Bearer
 * realm="https://auth.example/token",service="registry",scope="repository:app:pull"}.
 *
 * @param scheme the scheme in lower case: {@code bearer} or {@code basic}
 * @param params the parameters, names in lower case
 */
public record AuthChallenge(String scheme, Map<String, String> params) {
  public AuthChallenge {
    params = Map.copyOf(params);
  }

  /** A parameter's value, or null. */
  public String param(String name) {
    return params.get(name.toLowerCase(Locale.ROOT));
  }

  /**
   * Parses a header value into its challenges (RFC 9110 section 11.6.1): a scheme followed by
   * comma-separated {@code name=value} or {@code name="quoted value"} parameters; a header may hold
   * several challenges.
   *
   * @throws IllegalArgumentException when the header is malformed
   */
  public static List<AuthChallenge> parse(String header) {
    List<AuthChallenge> result = new ArrayList<>();
    Lexer in = new Lexer(header == null ? "" : header);
    in.skipSpaceAndCommas();
    while (!in.atEnd()) {
      String scheme = in.token();
      if (scheme.isEmpty()) {
        throw new IllegalArgumentException(
            "WWW-Authenticate: expected an auth scheme at position " + in.pos + " of: " + header);
      }
      Map<String, String> params = new LinkedHashMap<>();
      in.skipSpaces();
      // Parameters follow until the next token that is not followed by '=' (a new scheme).
      while (!in.atEnd()) {
        int mark = in.pos;
        in.skipSpaceAndCommas();
        String name = in.token();
        in.skipSpaces();
        if (name.isEmpty() || !in.peek('=')) {
          in.pos = mark;
          break;
        }
        in.pos++;
        in.skipSpaces();
        String value = in.peek('"') ? in.quoted(header) : in.token();
        params.put(name.toLowerCase(Locale.ROOT), value);
        in.skipSpaces();
        if (!in.atEnd() && !in.peek(',')) {
          throw new IllegalArgumentException(
              "WWW-Authenticate: expected ',' at position " + in.pos + " of: " + header);
        }
      }
      result.add(new AuthChallenge(scheme.toLowerCase(Locale.ROOT), params));
      in.skipSpaceAndCommas();
    }
    return result;
  }

  private static final class Lexer {
    final String s;
    int pos;

    Lexer(String s) {
      this.s = s;
    }

    boolean atEnd() {
      return pos >= s.length();
    }

    boolean peek(char c) {
      return pos < s.length() && s.charAt(pos) == c;
    }

    void skipSpaces() {
      while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t')) {
        pos++;
      }
    }

    void skipSpaceAndCommas() {
      while (pos < s.length() && " \t,".indexOf(s.charAt(pos)) >= 0) {
        pos++;
      }
    }

    /** An RFC 9110 token, plus '/' and ':' so that an unquoted realm URL survives. */
    String token() {
      int start = pos;
      while (pos < s.length() && isTokenChar(s.charAt(pos))) {
        pos++;
      }
      return s.substring(start, pos);
    }

    String quoted(String header) {
      StringBuilder b = new StringBuilder();
      pos++;
      while (pos < s.length()) {
        char c = s.charAt(pos++);
        if (c == '"') {
          return b.toString();
        }
        if (c == '\\' && pos < s.length()) {
          c = s.charAt(pos++);
        }
        b.append(c);
      }
      throw new IllegalArgumentException(
          "WWW-Authenticate: unterminated quoted string in: " + header);
    }

    private static boolean isTokenChar(char c) {
      return c > 0x20 && c < 0x7f && "\"(),/:;<=>?@[\\]{}".indexOf(c) < 0 || c == '/' || c == ':';
    }
  }
}
