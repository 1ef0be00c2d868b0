package io.layerns.csi.identity;

import java.io.IOException;
import java.security.PublicKey;
import java.util.Optional;

/** The key each member node published, by the address its HTTP export listens on. */
@FunctionalInterface
public interface PeerKeys {

  /**
   * The key the member whose HTTP export is at {@code host}:{@code port} published in its own
   * LayerStore status; empty when no member published one for that address.
   *
   * @param host as in the export's URL, an IP address or a name, without brackets
   * @throws IOException when the members cannot be read
   */
  Optional<PublicKey> publishedBy(String host, int port) throws IOException;
}
