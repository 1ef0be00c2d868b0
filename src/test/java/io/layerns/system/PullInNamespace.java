package io.layerns.system;

import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryHosts;
import io.layerns.csi.store.LocalLayerStore;
import java.nio.file.Path;

/**
 * Pulls one image into a store with the node plugin's registry client, configured from a certs.d
 * folder as the plugin configures it: run as a child JVM inside a test's network namespace, where
 * the registry's non-loopback address exists. Prints each layer's digest; exits 1 with the error.
 *
 * <p>Arguments: certs.d folder, store root, image reference.
 */
public final class PullInNamespace {
  private PullInNamespace() {}

  public static void main(String[] args) {
    try {
      LocalLayerStore store = LocalLayerStore.open(Path.of(args[1]));
      RegistryClient client =
          new RegistryClient(RegistryHosts.load(Path.of(args[0])), RegistryAddresses.DEFAULT);
      PulledImage pulled =
          new ImageImporter(store, client, Platform.LINUX_AMD64)
              .pull(ImageReference.parse(args[2]), DockerConfig.EMPTY);
      pulled.layers().forEach(l -> System.out.println("layer " + l.digest()));
    } catch (Exception e) {
      System.out.println("failed: " + e.getMessage());
      System.exit(1);
    }
  }
}
