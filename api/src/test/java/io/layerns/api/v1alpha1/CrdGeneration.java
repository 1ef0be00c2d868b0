package io.layerns.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.CRDGenerator;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Generates the CRDs from the types with fabric8's CRD generator, then orders the printer columns
 * as the class declares them (the generator sorts them by JSON path, which would put Age first).
 */
final class CrdGeneration {
  static final List<Class<? extends CustomResource<?, ?>>> RESOURCES =
      List.of(LayerNamespace.class, Layer.class, LayerStore.class);

  private CrdGeneration() {}

  /** File name in crds/ to CRD YAML. */
  static Map<String, String> generate() throws IOException {
    Path dir = Files.createTempDirectory("layerns-crds");
    new CRDGenerator()
        .customResourceClasses(RESOURCES.toArray(Class[]::new))
        .forCRDVersions("v1")
        .inOutputDir(dir.toFile())
        .generate();
    Map<String, String> out = new LinkedHashMap<>();
    for (Class<? extends CustomResource<?, ?>> type : RESOURCES) {
      String crdName = CustomResource.getCRDName(type);
      Path file = dir.resolve(crdName + "-v1.yml");
      CustomResourceDefinition crd =
          Serialization.unmarshal(Files.readString(file), CustomResourceDefinition.class);
      orderPrinterColumns(crd, type);
      String yaml =
          "# Generated from the Java types in api/ by `make crds`. Do not edit.\n"
              + Serialization.asYaml(crd);
      out.put(CrdConstants.GROUP + "_" + crd.getSpec().getNames().getPlural() + ".yaml", yaml);
      Files.delete(file);
    }
    Files.delete(dir);
    return out;
  }

  private static void orderPrinterColumns(CustomResourceDefinition crd, Class<?> type) {
    List<String> declared =
        Arrays.stream(type.getAnnotationsByType(AdditionalPrinterColumn.class))
            .map(AdditionalPrinterColumn::name)
            .toList();
    crd.getSpec()
        .getVersions()
        .forEach(
            v ->
                v.getAdditionalPrinterColumns()
                    .sort(
                        Comparator.comparingInt(
                            (CustomResourceColumnDefinition c) -> declared.indexOf(c.getName()))));
  }
}
