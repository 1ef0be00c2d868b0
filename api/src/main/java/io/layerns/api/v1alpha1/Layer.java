package io.layerns.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * One image layer of the global namespace, named {@code sha256-<hex>} after its digest: where its
 * copies are, which nodes own them, and who uses it. Written by the operator.
 */
@Group(CrdConstants.GROUP)
@Version(CrdConstants.VERSION)
@Kind("Layer")
@Singular("layer")
@Plural("layers")
@ShortNames("lyr")
@Categories(CrdConstants.CATEGORY)
@ValidationRule(
    value = "has(self.spec) && self.metadata.name == 'sha256-' + self.spec.digest.substring(7)",
    message = "metadata.name must be sha256-<hex> of spec.digest, and spec is required")
@AdditionalPrinterColumn(
    name = "Digest",
    jsonPath = ".spec.digest",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Size",
    jsonPath = ".status.size",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Copies",
    jsonPath = ".status.copies",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Holders",
    jsonPath = ".status.holderSummary",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Cold",
    jsonPath = ".status.coldCopy.state",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Owners",
    jsonPath = ".status.ownerSummary",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Refs",
    jsonPath = ".status.referenceCount",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
public class Layer extends CustomResource<LayerSpec, LayerStatus> {}
