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
 * A pool of nodes that share their image layers, and the policy for how many copies of each layer
 * the pool keeps. Cluster-scoped: it spans nodes, not a namespace.
 */
@Group(CrdConstants.GROUP)
@Version(CrdConstants.VERSION)
@Kind("LayerNamespace")
@Singular("layernamespace")
@Plural("layernamespaces")
@ShortNames("lns")
@Categories(CrdConstants.CATEGORY)
@AdditionalPrinterColumn(
    name = "Transport",
    jsonPath = ".spec.transport",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Replicas",
    jsonPath = ".spec.replicas",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Nodes",
    jsonPath = ".status.nodeSummary",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Layers",
    jsonPath = ".status.layerCount",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Stored",
    jsonPath = ".status.storedSize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Unique",
    jsonPath = ".status.uniqueSize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Saved",
    jsonPath = ".status.savedSize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Registry-saved",
    jsonPath = ".status.registryBytesAvoidedSize",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Private-copies",
    jsonPath = ".status.privateCopiesSize",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Ratio",
    jsonPath = ".status.dedupRatio",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Under-replicated",
    jsonPath = ".status.underReplicatedLayers",
    type = AdditionalPrinterColumn.Type.INTEGER,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Cold",
    jsonPath = ".status.coldSize",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Lost",
    jsonPath = ".status.lostLayers",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
public class LayerNamespace extends CustomResource<LayerNamespaceSpec, LayerNamespaceStatus> {}
