package io.layerns.csi.identity;

import com.google.protobuf.BoolValue;
import csi.v1.Csi.GetPluginCapabilitiesRequest;
import csi.v1.Csi.GetPluginCapabilitiesResponse;
import csi.v1.Csi.GetPluginInfoRequest;
import csi.v1.Csi.GetPluginInfoResponse;
import csi.v1.Csi.ProbeRequest;
import csi.v1.Csi.ProbeResponse;
import csi.v1.IdentityGrpc;
import io.grpc.stub.StreamObserver;
import java.util.function.BooleanSupplier;

/** The CSI Identity service of the node plugin: its name, version, capabilities and readiness. */
public final class IdentityService extends IdentityGrpc.IdentityImplBase {

  /** The CSI driver name, as in the CSIDriver object and the pods' volume specs. */
  public static final String DRIVER_NAME = "csi.layerns.io";

  private final String vendorVersion;
  private final BooleanSupplier ready;

  /**
   * @param vendorVersion the plugin's version, reported as vendor_version
   * @param ready whether the node agent can serve volumes; Probe reports it
   */
  public IdentityService(String vendorVersion, BooleanSupplier ready) {
    this.vendorVersion = vendorVersion;
    this.ready = ready;
  }

  /** The version in the plugin jar's manifest, or "unknown" when running from classes. */
  public static String jarVersion() {
    String v = IdentityService.class.getPackage().getImplementationVersion();
    return v == null ? "unknown" : v;
  }

  @Override
  public void getPluginInfo(GetPluginInfoRequest req, StreamObserver<GetPluginInfoResponse> out) {
    out.onNext(
        GetPluginInfoResponse.newBuilder()
            .setName(DRIVER_NAME)
            .setVendorVersion(vendorVersion)
            .build());
    out.onCompleted();
  }

  @Override
  public void getPluginCapabilities(
      GetPluginCapabilitiesRequest req, StreamObserver<GetPluginCapabilitiesResponse> out) {
    // Node-only: no CONTROLLER_SERVICE (nothing to provision or attach), and no
    // VOLUME_ACCESSIBILITY_CONSTRAINTS (an image can be shown on any node).
    out.onNext(GetPluginCapabilitiesResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void probe(ProbeRequest req, StreamObserver<ProbeResponse> out) {
    out.onNext(ProbeResponse.newBuilder().setReady(BoolValue.of(ready.getAsBoolean())).build());
    out.onCompleted();
  }
}
