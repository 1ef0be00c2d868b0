package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import csi.v1.ControllerGrpc;
import csi.v1.Csi.CreateVolumeRequest;
import csi.v1.Csi.CreateVolumeResponse;
import csi.v1.Csi.DeleteVolumeRequest;
import csi.v1.Csi.DeleteVolumeResponse;
import csi.v1.Csi.GetPluginInfoRequest;
import csi.v1.Csi.Volume;
import csi.v1.IdentityGrpc;
import io.grpc.stub.StreamObserver;
import io.layerns.csi.identity.IdentityService;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.node.NoCluster;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.PodInfo;
import io.layerns.csi.node.StoreVolumeAssembler;
import io.layerns.csi.node.VolumeStateStore;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Runs the CSI conformance suite, csi-sanity, against the real node plugin on a Unix socket: the
 * store-backed assembler with an image in its store, real overlay mounts. The image reaches
 * NodePublishVolume as the kubelet sends an inline volume's attributes, through csi-sanity's test
 * volume parameters (see {@link KubeletVolumeContext}).
 */
class CsiSanityIT {

  private static final Logger LOG = LoggerFactory.getLogger(CsiSanityIT.class);

  private static final TestImage IMAGE = TestImage.threeLayers("v1", Platform.LINUX_AMD64);
  private static final String REPOSITORY = "registry.example/team/app";

  /**
   * Specs this plugin cannot take part in, each with its reason. csi-sanity skips by itself what
   * the plugin reports it does not offer (staging, stats, expansion, health, multi-writer, the
   * Controller and GroupController services).
   */
  private static final Map<String, String> SKIPS =
      Map.of(
          "\\[Controller Server\\]",
          "the plugin is node-only (CSIDriver attachRequired: false, ephemeral volumes): it offers"
              + " no Controller service, and these specs call Controller RPCs without first"
              + " checking the CONTROLLER_SERVICE plugin capability; the only Controller here is"
              + " the test's stand-in, which is not under test");

  /** The specs that must run and pass: a regression that skips or fails one fails this test. */
  private static final List<String> MUST_PASS =
      List.of(
          "Identity Service GetPluginCapabilities should return appropriate capabilities",
          "Identity Service Probe should return appropriate information",
          "Identity Service GetPluginInfo should return appropriate information",
          "Node Service NodeGetCapabilities should return appropriate capabilities",
          "Node Service NodeGetInfo should return appropriate values",
          "Node Service NodePublishVolume should fail when no volume id is provided",
          "Node Service NodePublishVolume should fail when no target path is provided",
          "Node Service NodePublishVolume should fail when no volume capability is provided",
          "Node Service NodeUnpublishVolume should fail when no volume id is provided",
          "Node Service NodeUnpublishVolume should fail when no target path is provided",
          "Node Service NodeUnpublishVolume should remove target path");

  /** The specs of csi-test v5.6.0, as its JUnit report lists them. */
  private static final int SPECS = 103;

  /**
   * Every other spec is skipped: 67 by {@link #SKIPS} (one of them also pending in csi-test), 25 by
   * csi-sanity itself because the plugin does not report the capability they test (6 group
   * controller, 4 expansion, 4 volume stats, 5 staging, 3 volume and storage health, 1 single-node
   * multi-writer, and the 2 whole-lifecycle specs that need a Controller service).
   */
  private static final int SKIPPED = 92;

  @TempDir Path tmp;

  @Test
  void csiSanityPasses() throws Exception {
    RealMounts.assumeRoot();
    Path sanity = csiSanityBinary();
    LocalLayerStore store = LocalLayerStore.open(tmp.resolve("store"));
    ImageImporter importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    // The image is in the store before the suite starts, pinned by digest: no registry is needed.
    IMAGE.writeLayout(tmp.resolve("layout"), "v1");
    String image = REPOSITORY + "@" + IMAGE.manifestDigest();
    importer.importLayout(tmp.resolve("layout"), ImageReference.parse(image));
    var node =
        new NodeService(
            "sanity-node",
            new StoreVolumeAssembler(
                "sanity-node",
                importer,
                new PeerFetcher(
                    importer,
                    PeerFetcher.httpClient(
                        null,
                        io.layerns.csi.transport.TestNodeKeys.generate(),
                        (host, port) -> java.util.Optional.empty()),
                    Duration.ofSeconds(10)),
                new NoCluster(),
                Map.of(),
                tmp.resolve("plugin")),
            new CommandMounter(tmp.resolve("state/scratch")),
            new VolumeStateStore(tmp.resolve("state")));
    var identity = new IdentityService(IdentityService.jarVersion(), () -> true);
    Path socket = tmp.resolve("csi.sock");
    Path controllerSocket = tmp.resolve("controller.sock");
    Path parameters = volumeParameters(image);
    Path seen = tmp.resolve("check-path.log");
    Path checkPath = checkPathCommand(seen);
    Path report = tmp.resolve("junit.xml");
    Path output = tmp.resolve("csi-sanity.log");

    int exit;
    try (var server = CsiServer.start(socket, List.of(identity, node));
        // csi-sanity's Identity specs ask both endpoints: the plugin's identity answers on each.
        var controller =
            CsiServer.start(controllerSocket, List.of(identity, new KubeletVolumeContext()));
        var client = new GrpcChannels(socket)) {
      // The vendor version comes from the jar's manifest, which failsafe tests against.
      assertThat(
              IdentityGrpc.newBlockingStub(client.channel())
                  .getPluginInfo(GetPluginInfoRequest.getDefaultInstance())
                  .getVendorVersion())
          .isEqualTo(System.getProperty("layerns.version"));

      List<String> cmd = new ArrayList<>();
      cmd.add(sanity.toString());
      cmd.add("-csi.endpoint=unix://" + socket);
      cmd.add("-csi.controllerendpoint=unix://" + controllerSocket);
      cmd.add("-csi.testvolumeparameters=" + parameters);
      cmd.add("-csi.checkpathcmd=" + checkPath);
      cmd.add("-csi.mountdir=" + tmp.resolve("mnt"));
      cmd.add("-csi.stagingdir=" + tmp.resolve("staging"));
      SKIPS.keySet().forEach(regex -> cmd.add("-ginkgo.skip=" + regex));
      cmd.add("-ginkgo.junit-report=" + report);
      cmd.add("-ginkgo.no-color");
      cmd.add("-ginkgo.v");
      Process p =
          new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile()).start();
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        fail("csi-sanity did not finish in 5 minutes; output in " + output);
      }
      exit = p.exitValue();
    } finally {
      store.close();
    }
    String log = Files.readString(output, StandardCharsets.UTF_8);
    LOG.info("csi-sanity output:\n{}", log);

    Map<String, String> results = results(report);
    LOG.info("csi-sanity results: {}", results);
    assertThat(exit).as("csi-sanity exit code; output:\n%s", log).isZero();
    assertThat(results).doesNotContainValue("failed");
    assertThat(results.entrySet().stream().filter(e -> e.getValue().equals("passed")))
        .extracting(Map.Entry::getKey)
        .as("the specs that passed")
        .containsExactlyInAnyOrderElementsOf(MUST_PASS);
    assertThat(results).as("specs in the report").hasSize(SPECS);
    assertThat(results.values().stream().filter("skipped"::equals).count())
        .as("specs skipped; results: %s", results)
        .isEqualTo(SKIPPED);
    // Ginkgo's summary line counts the pending spec apart from the skipped ones.
    assertThat(log.strip().lines().reduce((a, b) -> b).orElseThrow())
        .isEqualTo(
            "SUCCESS! -- "
                + MUST_PASS.size()
                + " Passed | 0 Failed | 1 Pending | "
                + (SKIPPED - 1)
                + " Skipped");
    // While published, the target showed the image's files; after unpublishing it was gone.
    String target = tmp.resolve("mnt/target").toString();
    assertThat(Files.readAllLines(seen))
        .containsExactly(target + " shows hello v1", target + " not_found");
    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
  }

  /**
   * What the kubelet puts in an inline volume's volume context: the pod's {@code volumeAttributes}
   * ({@code image}) and its own {@code csi.storage.k8s.io/} keys.
   */
  private Path volumeParameters(String image) throws Exception {
    return Files.writeString(
        tmp.resolve("volume-parameters.yaml"),
        """
        image: "%s"
        %s: "true"
        %s: sanity
        %s: default
        %s: 8d4ac1b2-5f1e-4b53-9a5c-3c2f0e6d7a10
        %s: default
        """
            .formatted(
                image,
                NodeService.EPHEMERAL_KEY,
                PodInfo.NAME,
                PodInfo.NAMESPACE,
                PodInfo.UID,
                PodInfo.SERVICE_ACCOUNT));
  }

  /**
   * csi-sanity's path check ({@code -csi.checkpathcmd}), which also writes down what a mounted
   * target shows, so the test sees the image through the volume that csi-sanity published.
   */
  private Path checkPathCommand(Path log) throws Exception {
    Path script =
        Files.writeString(
            tmp.resolve("check-path"),
            """
            #!/bin/sh
            if [ -d "$1" ]; then
              if mountpoint -q "$1"; then echo "$1 shows $(cat "$1/bin/hello")" >> '%s'; fi
              echo directory
            elif [ -f "$1" ]; then echo file
            elif [ -e "$1" ] || [ -L "$1" ]; then echo other
            else echo "$1 not_found" >> '%s'; echo not_found
            fi
            """
                .formatted(log, log));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    Files.createFile(log);
    return script;
  }

  /**
   * The only Controller RPCs csi-sanity's Node specs need, standing in for what the kubelet does
   * for an inline volume: CreateVolume answers with the request's parameters as the volume context
   * (the kubelet passes a pod's {@code volumeAttributes} the same way) and a volume ID shaped like
   * the kubelet's; DeleteVolume has nothing to delete. csi-sanity provisions the volume for a Node
   * spec with CreateVolume, which an ephemeral-only driver does not offer.
   */
  private static final class KubeletVolumeContext extends ControllerGrpc.ControllerImplBase {
    @Override
    public void createVolume(
        CreateVolumeRequest req, StreamObserver<CreateVolumeResponse> response) {
      response.onNext(
          CreateVolumeResponse.newBuilder()
              .setVolume(
                  Volume.newBuilder()
                      .setVolumeId(
                          "csi-" + Digest.of(req.getName().getBytes(StandardCharsets.UTF_8)).hex())
                      .putAllVolumeContext(req.getParametersMap()))
              .build());
      response.onCompleted();
    }

    @Override
    public void deleteVolume(
        DeleteVolumeRequest req, StreamObserver<DeleteVolumeResponse> response) {
      response.onNext(DeleteVolumeResponse.getDefaultInstance());
      response.onCompleted();
    }
  }

  /** Spec name (without the "[It] " prefix) to passed, skipped or failed. */
  private static Map<String, String> results(Path junitReport) throws Exception {
    var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(junitReport.toFile());
    NodeList cases = doc.getElementsByTagName("testcase");
    Map<String, String> out = new TreeMap<>();
    for (int i = 0; i < cases.getLength(); i++) {
      Element c = (Element) cases.item(i);
      String name = c.getAttribute("name").replaceFirst("^\\[It\\] ", "");
      String result =
          c.getElementsByTagName("failure").getLength() > 0
                  || c.getElementsByTagName("error").getLength() > 0
              ? "failed"
              : c.getElementsByTagName("skipped").getLength() > 0 ? "skipped" : "passed";
      out.put(name, result);
    }
    return out;
  }

  private static Path csiSanityBinary() {
    String cache =
        Optional.ofNullable(System.getProperty("layerns.cache"))
            .or(() -> Optional.ofNullable(System.getenv("LAYERNS_CACHE")))
            .orElse(".cache");
    Path binary = Path.of(cache, "bin", "csi-sanity");
    if (!Files.isExecutable(binary)) {
      fail(
          "csi-sanity not found at "
              + binary
              + ": build it with hack/build-controlplane.sh (make controlplane)");
    }
    return binary;
  }
}
