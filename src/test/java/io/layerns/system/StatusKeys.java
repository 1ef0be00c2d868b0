package io.layerns.system;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.csi.identity.NodeKey;
import io.layerns.csi.identity.PeerKeys;
import java.net.URI;
import java.util.Objects;

/**
 * The keys nodes publish in their LayerStore status, by their HTTP export's address, read anew on
 * each lookup: what a test's client pins when it reads a plugin's export as a member would.
 */
final class StatusKeys {
  private StatusKeys() {}

  static PeerKeys of(KubernetesClient client) {
    return (host, port) ->
        client.resources(LayerStore.class).list().getItems().stream()
            .map(s -> s.getStatus() == null ? null : s.getStatus().endpoints())
            .filter(Objects::nonNull)
            .filter(e -> e.http() != null && e.sftpHostKey() != null)
            .filter(
                e -> {
                  URI u = URI.create(e.http());
                  return host.equals(u.getHost()) && u.getPort() == port;
                })
            .map(e -> NodeKey.parsePublicKey(e.sftpHostKey()))
            .findFirst();
  }
}
