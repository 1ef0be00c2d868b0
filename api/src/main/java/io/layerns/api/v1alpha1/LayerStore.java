package io.layerns.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * One node's layer store, named after the node and owned by its Node: the operator writes what the
 * node must hold (spec), the node's agent reports what it holds and serves (status). One object per
 * node keeps a node's whole inventory to one write.
 */
@Group(CrdConstants.GROUP)
@Version(CrdConstants.VERSION)
@Kind("LayerStore")
@Singular("layerstore")
@Plural("layerstores")
@ShortNames("lst")
@Categories(CrdConstants.CATEGORY)
@AdditionalPrinterColumn(
    name = "Namespace",
    jsonPath = ".spec.namespace",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Assigned",
    jsonPath = ".status.assignedLayers",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Held",
    jsonPath = ".status.heldLayers",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Used",
    jsonPath = ".status.usedSize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Capacity",
    jsonPath = ".status.capacitySize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Volumes",
    jsonPath = ".status.volumeCount",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
public class LayerStore extends CustomResource<LayerStoreSpec, LayerStoreStatus> {}
