package io.layerns.csi.registration;

import io.grpc.stub.StreamObserver;
import io.layerns.csi.registration.v1.InfoRequest;
import io.layerns.csi.registration.v1.PluginInfo;
import io.layerns.csi.registration.v1.RegistrationGrpc;
import io.layerns.csi.registration.v1.RegistrationStatus;
import io.layerns.csi.registration.v1.RegistrationStatusResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kubelet plugin registration service: the kubelet's plugin watcher finds its socket in the
 * {@code plugins_registry} directory, asks GetInfo, then calls the CSI endpoint it names.
 */
public final class RegistrationService extends RegistrationGrpc.RegistrationImplBase {

  private static final Logger LOG = LoggerFactory.getLogger(RegistrationService.class);

  /** The plugin type the kubelet's CSI plugin handler claims. */
  public static final String CSI_PLUGIN_TYPE = "CSIPlugin";

  /** The CSI versions the kubelet may speak to us. */
  public static final List<String> SUPPORTED_VERSIONS = List.of("1.0.0");

  private final String driverName;
  private final Path csiEndpoint;
  private final AtomicReference<RegistrationStatus> lastStatus = new AtomicReference<>();

  /**
   * @param driverName the CSI driver name
   * @param csiEndpoint the CSI socket as the kubelet sees it on the host, which differs from the
   *     path inside the plugin's container
   */
  public RegistrationService(String driverName, Path csiEndpoint) {
    this.driverName = driverName;
    this.csiEndpoint = csiEndpoint;
  }

  /** The socket name node-driver-registrar would use, so either can be swapped for the other. */
  public static Path socketIn(Path pluginsRegistryDir, String driverName) {
    return pluginsRegistryDir.resolve(driverName + "-reg.sock");
  }

  @Override
  public void getInfo(InfoRequest req, StreamObserver<PluginInfo> out) {
    out.onNext(
        PluginInfo.newBuilder()
            .setType(CSI_PLUGIN_TYPE)
            .setName(driverName)
            .setEndpoint(csiEndpoint.toString())
            .addAllSupportedVersions(SUPPORTED_VERSIONS)
            .build());
    out.onCompleted();
  }

  @Override
  public void notifyRegistrationStatus(
      RegistrationStatus status, StreamObserver<RegistrationStatusResponse> out) {
    lastStatus.set(status);
    if (status.getPluginRegistered()) {
      LOG.info("registered with the kubelet as {}", driverName);
    } else {
      LOG.error("the kubelet refused the registration of {}: {}", driverName, status.getError());
    }
    out.onNext(RegistrationStatusResponse.getDefaultInstance());
    out.onCompleted();
  }

  /** What the kubelet last said about our registration, if it said anything. */
  public Optional<RegistrationStatus> lastStatus() {
    return Optional.ofNullable(lastStatus.get());
  }
}
