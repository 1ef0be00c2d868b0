package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.AssignedLayer;
import io.layerns.api.v1alpha1.ColdCopyState;
import io.layerns.api.v1alpha1.ColdTier;
import io.layerns.api.v1alpha1.LayerStore;
import io.layerns.api.v1alpha1.LayerStoreSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.agent.NodeAgent;
import io.layerns.csi.agent.Scrubber;
import io.layerns.testing.ControlPlane;
import io.layerns.testing.S3Server;
import io.layerns.testing.WithControlPlane;
import java.io.ByteArrayInputStream;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two node agents with the cold tier on the real control plane and a real S3 server, their specs
 * written as the operator would: the cold keeper writes its layer to the bucket and reports it
 * Confirmed with {@code ColdTierReady}; the other node, which no member can serve and whose
 * registry is not there, gets the layer from the bucket, verified, and says so (status bytes and a
 * {@code FetchedFromBucket} event).
 */
@WithControlPlane
class ColdTierAgentIT {
  private static final String KEEPER = "cold-keeper-1";
  private static final String READER = "cold-reader-2";
  private static final String BUCKET = "agents";

  @Test
  void theKeeperConfirmsItsCopyAndAnotherNodeFetchesItFromTheBucket(
      ControlPlane cp, @TempDir Path dir) throws Exception {
    KubernetesClient client = cp.client();
    TestLayers layer = TestLayers.of(Map.of("etc/cold", "from the bucket\n"), 300_000, 20);
    String deadRegistry;
    try (ServerSocket s = new ServerSocket(0)) {
      deadRegistry = "127.0.0.1:" + s.getLocalPort() + "/cold/app"; // nothing listens there
    }
    try (S3Server s3 = S3Server.start()) {
      s3.createBucket(BUCKET);
      client
          .resource(
              new SecretBuilder()
                  .withNewMetadata()
                  .withName("layerns-cold-tier")
                  .withNamespace("default")
                  .endMetadata()
                  .addToStringData("accessKeyId", s3.accessKey())
                  .addToStringData("secretAccessKey", s3.secretKey())
                  .build())
          .create();
      ColdTier tier =
          new ColdTier(
              s3.endpoint().toString(), BUCKET, "layerns/", null, null, "layerns-cold-tier", 1);
      TestNodes.addReadyNode(client, KEEPER, Map.of());
      TestNodes.addReadyNode(client, READER, Map.of());
      Scrubber.Settings scrub = new Scrubber.Settings(8L << 20, Duration.ofHours(1));
      try (InProcessAgent keeper =
              InProcessAgent.startCold(
                  cp, KEEPER, "127.0.1.71", dir.resolve(KEEPER), "default", scrub);
          InProcessAgent reader =
              InProcessAgent.startCold(
                  cp, READER, "127.0.1.72", dir.resolve(READER), "default", scrub)) {
        keeper
            .store()
            .importLayer(
                layer.digest(),
                layer.diffId(),
                TestLayers.GZIP,
                new ByteArrayInputStream(layer.blob()));
        spec(
            client,
            KEEPER,
            new AssignedLayer(
                layer.digest().toString(),
                (long) layer.blob().length,
                TestLayers.GZIP,
                List.of(),
                List.of(),
                "Owner",
                null,
                null,
                true),
            tier);

        await("the keeper reports its bucket copy Confirmed")
            .atMost(Duration.ofSeconds(60))
            .untilAsserted(
                () ->
                    assertThat(status(client, KEEPER).coldCopies())
                        .singleElement()
                        .satisfies(
                            c -> {
                              assertThat(c.digest()).isEqualTo(layer.digest().toString());
                              assertThat(c.state()).isEqualTo(ColdCopyState.Confirmed);
                              assertThat(c.checkedAt()).isNotNull();
                            }));
        StoreConditions.await(client, KEEPER, "ColdTierReady", "True");
        assertThat(s3.objectFile(BUCKET, "layerns/blobs/sha256/" + layer.digest().hex()))
            .hasBinaryContent(layer.blob());

        // The reader: no peer holds it for it, the registry is not there; the bucket is.
        spec(
            client,
            READER,
            new AssignedLayer(
                layer.digest().toString(),
                (long) layer.blob().length,
                TestLayers.GZIP,
                List.of(),
                List.of(deadRegistry),
                "Owner",
                null),
            tier);
        await("the reader holds the layer, fetched from the bucket")
            .atMost(Duration.ofSeconds(60))
            .untilAsserted(
                () -> {
                  assertThat(reader.store().hasLayer(layer.digest())).isTrue();
                  assertThat(status(client, READER).fetchedFromBucketBytes())
                      .isEqualTo(layer.blob().length);
                });
        assertThat(reader.store().blob(layer.digest()).orElseThrow())
            .hasBinaryContent(layer.blob());
        assertThat(
                reader.store().layer(layer.digest()).orElseThrow().directory().resolve("etc/cold"))
            .hasContent("from the bucket\n");
        assertThat(status(client, READER).fetchedFromRegistriesBytes()).isZero();
        await("a FetchedFromBucket event names the bucket")
            .atMost(Duration.ofSeconds(30))
            .untilAsserted(
                () ->
                    assertThat(
                            client.events().v1().events().inNamespace("default").list().getItems())
                        .anySatisfy(
                            e -> {
                              assertThat(e.getReason()).isEqualTo(NodeAgent.FETCHED_FROM_BUCKET);
                              assertThat(e.getRegarding().getName()).isEqualTo(READER);
                              assertThat(e.getNote())
                                  .contains(layer.digest().toString(), "bucket " + BUCKET);
                            }));
        // The reader keeps no bucket copy: it reports none.
        assertThat(status(client, READER).coldCopies()).isNullOrEmpty();
      } finally {
        client.resources(LayerStore.class).withName(KEEPER).delete();
        client.resources(LayerStore.class).withName(READER).delete();
      }
    }
  }

  private static void spec(KubernetesClient client, String node, AssignedLayer a, ColdTier tier) {
    LayerStore store = new LayerStore();
    store.setMetadata(new ObjectMetaBuilder().withName(node).build());
    store.setSpec(
        new LayerStoreSpec(
            node, "cold", Transport.Copy, 30, List.of(a), List.of(), List.of(), tier));
    client.resource(store).create();
  }

  private static io.layerns.api.v1alpha1.LayerStoreStatus status(
      KubernetesClient client, String node) {
    LayerStore s = client.resources(LayerStore.class).withName(node).get();
    assertThat(s).isNotNull();
    assertThat(s.getStatus()).as("status of " + node).isNotNull();
    return s.getStatus();
  }
}
