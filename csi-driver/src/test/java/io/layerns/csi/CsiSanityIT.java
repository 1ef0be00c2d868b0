package io.layerns.csi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import csi.v1.Csi.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import io.layerns.csi.identity.IdentityService;
import io.layerns.csi.mount.CommandMounter;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.node.LocalDirectoryAssembler;
import io.layerns.csi.node.NodeService;
import io.layerns.csi.node.VolumeStateStore;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** Runs the CSI conformance suite, csi-sanity, against the node plugin on a Unix socket. */
class CsiSanityIT {

  private static final Logger LOG = LoggerFactory.getLogger(CsiSanityIT.class);

  /**
   * Specs this plugin cannot take part in, each with its reason. csi-sanity skips by itself what
   * the plugin reports it does not offer (staging, stats, expansion, health, group controller).
   */
  private static final Map<String, String> SKIPS =
      Map.of(
          "\\[Controller Server\\]",
          "the plugin is node-only (CSIDriver attachRequired: false, ephemeral volumes): it offers"
              + " no Controller service, and these specs call Controller RPCs without first"
              + " checking the CONTROLLER_SERVICE plugin capability",
          "NodeUnpublishVolume should remove target path",
          "it provisions its volume with Controller CreateVolume, which an ephemeral-only driver"
              + " lacks; OverlayMountIT covers publish and unpublish with real mounts instead");

  @TempDir Path tmp;

  @Test
  void csiSanityPasses() throws Exception {
    RealMounts.assumeRoot();
    Path sanity = csiSanityBinary();
    var images = new LocalDirectoryAssembler(tmp.resolve("images"));
    Files.createDirectories(images.imageDirectory("registry.example/app:1").resolve("0"));
    Files.writeString(images.imageDirectory("registry.example/app:1").resolve("0/hello"), "hi");
    var node =
        new NodeService(
            "sanity-node",
            images,
            new CommandMounter(tmp.resolve("state/scratch")),
            new VolumeStateStore(tmp.resolve("state")));
    var identity = new IdentityService(IdentityService.jarVersion(), () -> true);
    Path socket = tmp.resolve("csi.sock");
    Path report = tmp.resolve("junit.xml");
    Path output = tmp.resolve("csi-sanity.log");

    int exit;
    try (var server = CsiServer.start(socket, List.of(identity, node));
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
    }
    String log = Files.readString(output, StandardCharsets.UTF_8);
    LOG.info("csi-sanity output:\n{}", log);

    Map<String, String> results = results(report);
    LOG.info("csi-sanity results: {}", results);
    assertThat(exit).as("csi-sanity exit code; output:\n%s", log).isZero();
    assertThat(results).doesNotContainValue("failed");
    // Ginkgo's summary line, e.g. "SUCCESS! -- 10 Passed | 0 Failed | 1 Pending | 92 Skipped".
    assertThat(log.strip().lines().reduce((a, b) -> b).orElseThrow())
        .startsWith("SUCCESS! -- ")
        .contains(" 0 Failed");
    // What a node-only ephemeral plugin must get right, each must have run and passed.
    assertThat(results)
        .containsEntry(
            "Identity Service GetPluginCapabilities should return appropriate capabilities",
            "passed")
        .containsEntry("Identity Service Probe should return appropriate information", "passed")
        .containsEntry(
            "Identity Service GetPluginInfo should return appropriate information", "passed")
        .containsEntry(
            "Node Service NodeGetCapabilities should return appropriate capabilities", "passed")
        .containsEntry("Node Service NodeGetInfo should return appropriate values", "passed")
        .containsEntry(
            "Node Service NodePublishVolume should fail when no volume id is provided", "passed")
        .containsEntry(
            "Node Service NodePublishVolume should fail when no target path is provided", "passed")
        .containsEntry(
            "Node Service NodePublishVolume should fail when no volume capability is provided",
            "passed")
        .containsEntry(
            "Node Service NodeUnpublishVolume should fail when no volume id is provided", "passed")
        .containsEntry(
            "Node Service NodeUnpublishVolume should fail when no target path is provided",
            "passed")
        .containsEntry("Node Service NodeUnpublishVolume should remove target path", "skipped");
    assertThat(MountTable.mountsUnder(tmp)).isEmpty();
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
