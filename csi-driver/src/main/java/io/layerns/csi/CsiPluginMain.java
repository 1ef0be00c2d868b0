package io.layerns.csi;

import io.layerns.csi.identity.IdentityService;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.node.LocalDirectoryAssembler;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.VolumeState;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registration.RegistrationService;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the CSI node plugin: Identity and Node on the CSI socket, registration for the kubelet.
 */
public final class CsiPluginMain {

  private static final Logger LOG = LoggerFactory.getLogger(CsiPluginMain.class);

  private CsiPluginMain() {}

  public static void main(String[] args) throws Exception {
    PluginConfig config = PluginConfig.parse(args, System.getenv());
    AtomicBoolean ready = new AtomicBoolean();
    VolumeStateStore states = new VolumeStateStore(config.stateDir());
    // Until the store-backed assembler (node store, peers, registry) is wired in, images come
    // pre-unpacked from the image folder.
    NodeService node =
        new NodeService(
            config.nodeName(),
            new LocalDirectoryAssembler(config.imageDir()),
            new CommandMounter(config.stateDir().resolve("scratch")),
            states);
    List<VolumeState> kept = node.publishedVolumes();
    LOG.info("{} volumes still mounted from before this start", kept.size());

    List<CsiServer> servers = new ArrayList<>();
    servers.add(
        CsiServer.start(
            config.csiEndpoint(),
            List.of(new IdentityService(IdentityService.jarVersion(), ready::get), node)));
    if (config.registrationDir().isPresent()) {
      servers.add(
          CsiServer.start(
              RegistrationService.socketIn(
                  config.registrationDir().get(), IdentityService.DRIVER_NAME),
              List.of(
                  new RegistrationService(IdentityService.DRIVER_NAME, config.kubeletEndpoint()))));
    }
    ready.set(true);

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  // Mounts stay: pods keep using them while the plugin restarts.
                  for (CsiServer s : servers.reversed()) {
                    try {
                      s.close();
                    } catch (Exception e) {
                      LOG.warn("closing {}: {}", s.socket(), e.toString());
                    }
                  }
                  stopped.countDown();
                },
                "shutdown"));
    stopped.await();
  }
}
