package io.layerns.testing;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * JUnit 5 extension that hands tests a real control plane with the layerns CRDs applied: one
 * control plane serves every test class of the run and is stopped when the run ends. Inject {@link
 * KubernetesClient} (cluster-admin) or {@link ControlPlane} as test or lifecycle method parameters.
 */
public final class ControlPlaneExtension implements ParameterResolver {
  private static final ExtensionContext.Namespace NS =
      ExtensionContext.Namespace.create(ControlPlaneExtension.class);

  /** The run's control plane, started on first use. */
  public static ControlPlane controlPlane(ExtensionContext context) {
    return context
        .getRoot()
        .getStore(NS)
        .getOrComputeIfAbsent(ControlPlane.class, k -> startWithCrds(), ControlPlane.class);
  }

  private static ControlPlane startWithCrds() {
    ControlPlane cp = ControlPlane.start(ControlPlane.defaultBinDir());
    cp.applyCrds(repoRoot().resolve("crds"));
    return cp;
  }

  /** The repository root, from the {@code layerns.repo} property the build sets. */
  public static Path repoRoot() {
    return Path.of(System.getProperty("layerns.repo", ".")).toAbsolutePath().normalize();
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext extension) {
    Class<?> type = parameter.getParameter().getType();
    return type == KubernetesClient.class || type == ControlPlane.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext extension) {
    ControlPlane cp = controlPlane(extension);
    return parameter.getParameter().getType() == ControlPlane.class ? cp : cp.client();
  }
}
