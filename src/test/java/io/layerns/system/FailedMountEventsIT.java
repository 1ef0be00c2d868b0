package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.storage.CSINode;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.Digest;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 18, item 3: a publish that fails leaves a {@code FailedMount} event on the pod that names
 * the image, the reason and what to do, read with {@code kubectl describe pod} as a user reads it.
 * (The private image without a pull Secret is {@link
 * ClusterE2EIT#aPodWithoutThePullSecretOfAPrivateImageDoesNotStartAndItsEventsSayWhy}.)
 *
 * <p>One node, the only member of the pods' LayerNamespace, whose {@code /var/lib/layerns} is a
 * {@value #STORE_DISK_MIB} MiB tmpfs mounted before layerns is installed: the store a node has when
 * its disk is nearly full.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FailedMountEventsIT {
  private static final Logger LOG = LoggerFactory.getLogger(FailedMountEventsIT.class);
  private static final String NAMESPACE = "events";
  private static final String NODE = "node-1";
  private static final int STORE_DISK_MIB = 16;
  private static final int BIG_LAYER_MIB = 24;
  private static final Duration POD_TIMEOUT = Duration.ofSeconds(90);

  /** A port on the cluster network's gateway where nothing listens. */
  private static final String UNREACHABLE_REGISTRY = ClusterNetwork.GATEWAY + ":5999";

  private TestCluster cluster;
  private KubernetesClient client;
  private PublishImage big;

  @BeforeAll
  void aNodeWithASmallStoreDisk() throws Exception {
    cluster =
        ClusterInstall.startWithLayerns(
            archives -> new TestCluster.Options(1, ClusterInstall.PAUSE, archives),
            c ->
                c.node(NODE)
                    .exec(
                        "mount",
                        "-t",
                        "tmpfs",
                        "-o",
                        "size=" + STORE_DISK_MIB + "m",
                        "tmpfs",
                        "/var/lib/layerns"));
    client = cluster.client();
    // Until the kubelet has registered the driver, a pod's FailedMount says only that.
    await("the kubelet of " + NODE + " has registered csi.layerns.io")
        .atMost(Duration.ofSeconds(60))
        .until(
            () -> {
              CSINode n = client.storage().v1().csiNodes().withName(NODE).get();
              return n != null
                  && n.getSpec().getDrivers() != null
                  && n.getSpec().getDrivers().stream()
                      .anyMatch(d -> "csi.layerns.io".equals(d.getName()));
            });
    cluster.kubectl("create", "namespace", NAMESPACE);
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
    ns.setSpec(new LayerNamespaceSpec(null, 1, Transport.Copy, 5, 60, null, List.of()));
    client.resource(ns).create();

    // Random bytes do not compress: the layer's blob alone is bigger than the store's disk.
    byte[] noise = new byte[BIG_LAYER_MIB << 20];
    new Random(18).nextBytes(noise);
    big = new PublishImage(List.of(List.of(PublishImage.Entry.binary("noise.bin", 0644, noise))));
    PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]))
        .push("team/big", big.blobs(), PublishImage.MANIFEST_TYPE, big.manifest, "1");
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @DisplayName(
      "When a pod names a tag the registry does not have, then its FailedMount event names the"
          + " image, says the registry answered 404 for the tag and to check the name and tag")
  void aTagTheRegistryDoesNotHave() {
    String image = ClusterNetwork.registryHost() + "/team/big:2";
    String event = failedMountOf("missing-tag", image);
    assertReadable(event, image);
    assertThat(event)
        .contains("the registry has no tag 2: " + ClusterNetwork.registryHost() + " answered 404")
        .contains("Check the image's name and tag.");
  }

  @Test
  @DisplayName(
      "When a pod names a digest the registry does not have, then its FailedMount event names the"
          + " image, says the registry answered 404 manifest unknown and to check the digest")
  void aDigestTheRegistryDoesNotHave() {
    Digest nowhere = Digest.of("held by no one".getBytes(StandardCharsets.UTF_8));
    String image = ClusterNetwork.registryHost() + "/team/big@" + nowhere;
    String event = failedMountOf("missing-digest", image);
    assertReadable(event, image);
    assertThat(event)
        .contains(
            "the registry has no manifest with digest "
                + nowhere
                + ": "
                + ClusterNetwork.registryHost()
                + " answered 404 (manifest unknown)")
        .contains("no member node holds it")
        .contains("Check the image's name and digest.");
  }

  @Test
  @DisplayName(
      "When a pod names by digest an image no member holds and its registry cannot be reached,"
          + " then its FailedMount event names the image, the registry's address and error")
  void noMemberHoldsItAndTheRegistryIsUnreachable() {
    Digest nowhere = Digest.of("held by no one, anywhere".getBytes(StandardCharsets.UTF_8));
    String image = UNREACHABLE_REGISTRY + "/team/gone@" + nowhere;
    String event = failedMountOf("unreachable", image);
    assertReadable(event, image);
    assertThat(event)
        .contains("no member node holds it")
        .contains(
            "the registry "
                + UNREACHABLE_REGISTRY
                + " could not be reached over https"
                + " (connection refused)")
        .contains("Check that the registry is up and reachable from node " + NODE);
  }

  @Test
  @DisplayName(
      "When a pod names an image whose layer does not fit in the node's store, then its"
          + " FailedMount event names the image, the layer, the space needed and free, and the fix")
  void theLayerDoesNotFitInTheNodesStore() {
    String image = ClusterNetwork.registryHost() + "/team/big:1";
    String event = failedMountOf("too-big", image);
    assertReadable(event, image);
    PublishImage.Layer layer = big.layers.getFirst();
    assertThat(event)
        .contains("layer " + layer.digest())
        .contains("needs " + layer.blob().length + " bytes")
        .containsPattern("only \\d+ bytes are free")
        .contains("does not fit on node " + NODE)
        .contains("Free space on node " + NODE)
        .contains("set the LayerNamespace's transport to Nfs or Sshfs");
  }

  /** Starts a pod reading {@code image} and returns its first FailedMount event line. */
  private String failedMountOf(String pod, String image) {
    client
        .resource(ImageVolumePod.builder(NAMESPACE, pod, NODE, image, true, "ls /image").build())
        .create();
    long created = System.nanoTime();
    String event = ClusterPods.awaitFailedMount(cluster, NAMESPACE, pod, POD_TIMEOUT);
    LOG.info(
        "{}: FailedMount {} ms after create:\n{}",
        pod,
        Duration.ofNanos(System.nanoTime() - created).toMillis(),
        event);
    return event;
  }

  /**
   * What every such event must be: what the plugin said (after the kubelet's prefix) starts with
   * the image, is a sentence or two, and has no Java class name or stack trace in it.
   */
  private static void assertReadable(String event, String image) {
    String said = event.substring(event.indexOf("desc = ") + "desc = ".length());
    assertThat(said).as("what the plugin said").startsWith("image " + image + " ");
    assertThat(said.split("[.;] ")).as("its sentences").hasSizeLessThanOrEqualTo(3);
    assertThat(said)
        .doesNotContainPattern("\\b(java|io\\.layerns|sun|jdk)\\.\\w")
        .doesNotContain("Exception")
        .doesNotContain("\tat ")
        .hasSizeLessThan(600);
  }
}
