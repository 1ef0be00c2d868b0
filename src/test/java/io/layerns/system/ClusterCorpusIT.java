package io.layerns.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SysctlBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.layerns.api.v1alpha1.LayerNamespace;
import io.layerns.api.v1alpha1.LayerNamespaceSpec;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.csi.store.ImageCorpus;
import io.layerns.testing.cluster.ClusterNetwork;
import io.layerns.testing.cluster.ClusterNode;
import io.layerns.testing.cluster.TestCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The image corpus built from real Debian packages ({@link ImageCorpus}), preloaded on the real
 * cluster and read over {@code Sshfs} by real pods on a node that lacks the layers: Debian's own
 * programs run from the volume (dpkg in a chroot, ping as nobody through its file capability), and
 * device nodes, FIFOs, large files and non-ASCII names are what the image says they are.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterCorpusIT {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterCorpusIT.class);
  private static final String NAMESPACE = "corpus";
  private static final Duration POD_TIMEOUT = Duration.ofSeconds(180);
  private static final ObjectMapper JSON = new ObjectMapper();

  private TestCluster cluster;
  private KubernetesClient client;
  private final Map<String, ImageCorpus.Image> images = new LinkedHashMap<>();
  private final Map<String, List<String>> layerDigests = new LinkedHashMap<>();

  @BeforeAll
  void installAndPreloadTheCorpus() throws Exception {
    for (ImageCorpus.Image image :
        ImageCorpus.images(
            Path.of(System.getProperty("layerns.cache", "/var/cache/layerns")).resolve("corpus"))) {
      images.put(image.name(), image);
      layerDigests.put(image.name(), layers(image));
    }
    cluster = ClusterInstall.startWithLayerns(2);
    client = cluster.client();
    // The layout's own blobs, pushed as they are (a registry client would recompress them): the
    // blobs pods read are the corpus' own.
    PublishRegistry registry =
        PublishRegistry.existing(Integer.parseInt(cluster.registryFromHost().split(":")[1]));
    List<String> references = new ArrayList<>();
    for (ImageCorpus.Image image : images.values()) {
      JsonNode manifest = manifest(image);
      List<String> blobs = new ArrayList<>(layerDigests.get(image.name()));
      blobs.add(manifest.path("config").path("digest").asText());
      for (String digest : blobs) {
        registry.pushBlob(
            "corpus/" + image.name(),
            io.layerns.csi.store.Digest.parse(digest),
            java.net.http.HttpRequest.BodyPublishers.ofFile(blob(image, digest)));
      }
      registry.pushManifest(
          "corpus/" + image.name(),
          manifest.path("mediaType").asText("application/vnd.oci.image.manifest.v1+json"),
          Files.readAllBytes(blob(image, manifestDigest(image))),
          "1");
      references.add(ClusterNetwork.registryHost() + "/corpus/" + image.name() + ":1");
    }
    cluster.kubectl("create", "namespace", NAMESPACE);
    LayerNamespace ns = new LayerNamespace();
    ns.setMetadata(new ObjectMetaBuilder().withName(NAMESPACE).build());
    ns.setSpec(new LayerNamespaceSpec(null, 1, Transport.Sshfs, 5, 60, null, references));
    client.resource(ns).create();
    await("every corpus layer held by one node")
        .atMost(Duration.ofSeconds(600))
        .pollInterval(Duration.ofSeconds(2))
        .untilAsserted(
            () -> {
              for (List<String> digests : layerDigests.values()) {
                for (String d : digests) {
                  assertThat(holders(d)).as("holders of %s", d).hasSize(1);
                }
              }
            });
    LOG.info("corpus preloaded:\n{}", cluster.kubectl("get", "lns,lst"));
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void realPodsRunTheCorpusFromPeersOverSshfs() throws Exception {
    Map<String, String> checks = new LinkedHashMap<>();
    checks.put(
        "debian-minbase",
        // dpkg runs from the volume, and /dev/console is the character device debootstrap made.
        "n=$(chroot /image /usr/bin/dpkg-query -W -f='${Package}\\n' | wc -l)"
            + " && [ \"$n\" -gt 50 ] && ls -l /image/dev/console | grep -q '^c'"
            + " && echo \"dpkg lists $n packages\"");
    checks.put(
        "ping-capability",
        // As nobody, with unprivileged ICMP sockets off (the pod's sysctl), only the file
        // capability cap_net_raw+ep lets ping send. The control: a copy without it must fail.
        "cp /image/usr/bin/ping /image/tmp/ping-copy"
            + " && if chroot /image /usr/sbin/chroot --userspec=65534:65534 /"
            + " /tmp/ping-copy -c1 -W2 127.0.0.1; then echo 'CONTROL FAILED: sent without the"
            + " capability'; exit 1; fi"
            + " && chroot /image /usr/sbin/chroot --userspec=65534:65534 /"
            + " /usr/bin/ping -c1 -W2 127.0.0.1 && echo 'ping as nobody: sent'");
    checks.put(
        "postfix-fifos",
        "test -p /image/var/spool/postfix/public/pickup"
            + " && [ \"$(stat -c '%a %u:%g' /image/var/spool/postfix/public/pickup)\" = '622 101:102' ]"
            + " && [ \"$(stat -c '%a' /image/var/spool/postfix/public)\" = '2710' ]");
    checks.put(
        "large-files",
        "[ \"$(sha256sum /image/data/a.bin | cut -d' ' -f1)\" = '"
            + sha256OfFileInLayout("large-files", "data/a.bin")
            + "' ] && [ \"$(stat -c %s /image/data/b.bin)\" = 67108864 ]");
    checks.put(
        "links-and-names",
        "[ \"$(ls /image/names | wc -l)\" -ge 10 ] && grep -qx '日本語のファイル名' "
            + "'/image/names/日本語のファイル名' && [ \"$(cat /image/b/f1999)\" = 'file 1999' ]");
    checks.put("busybox", "/image/bin/busybox echo busybox runs from the volume");
    checks.put(
        "python-stdlib",
        "test -f /image/usr/lib/python3.11/json/__init__.py"
            + " && [ \"$(ls /image/usr/share/small/199 | wc -l)\" = 100 ]");
    assertThat(checks.keySet()).containsExactlyInAnyOrderElementsOf(images.keySet());

    Map<String, String> readers = new LinkedHashMap<>();
    for (var e : checks.entrySet()) {
      String reader = nodeLackingMostOf(e.getKey());
      readers.put(e.getKey(), reader);
      createPod(e.getKey(), reader, e.getValue());
    }
    for (String name : checks.keySet()) {
      String log = awaitSucceeded(name);
      LOG.info("{} on {}: {}", name, readers.get(name), log.strip());
      assertThat(log).contains("CHECKED " + name);
    }
    assertThat(cluster.kubectl("-n", NAMESPACE, "logs", "ping-capability"))
        .contains("ping as nobody: sent");
  }

  // ---- pods

  private void createPod(String image, String node, String check) {
    String script = "set -e; " + check + "; echo CHECKED " + image;
    boolean scratch = image.equals("ping-capability");
    PodBuilder pod =
        ImageVolumePod.builder(
                NAMESPACE,
                image,
                node,
                ClusterNetwork.registryHost() + "/corpus/" + image + ":1",
                true,
                script)
            .editSpec()
            .withNewSecurityContext()
            .withSysctls(
                new SysctlBuilder().withName("net.ipv4.ping_group_range").withValue("1 0").build())
            .endSecurityContext()
            .endSpec();
    if (scratch) {
      // A writable /tmp inside the read-only image, for the control copy of ping.
      pod.editSpec()
          .editFirstContainer()
          .addNewVolumeMount()
          .withName("scratch")
          .withMountPath("/image/tmp")
          .endVolumeMount()
          .endContainer()
          .addNewVolume()
          .withName("scratch")
          .withNewEmptyDir()
          .endEmptyDir()
          .endVolume()
          .endSpec();
    }
    client.resource(pod.build()).create();
  }

  private String awaitSucceeded(String name) {
    try {
      await(name + " ran its check")
          .atMost(POD_TIMEOUT)
          .until(
              () -> {
                Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
                String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
                if ("Failed".equals(phase)) {
                  throw new AssertionError(
                      name + " failed: " + cluster.kubectl("-n", NAMESPACE, "logs", name));
                }
                return "Succeeded".equals(phase);
              });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError(
          name + " did not finish:\n" + cluster.kubectl("-n", NAMESPACE, "describe", "pod", name),
          e);
    }
    return cluster.kubectl("-n", NAMESPACE, "logs", name);
  }

  // ---- layers and holders

  /** The member holding the fewest of the image's layers; it must lack at least one. */
  private String nodeLackingMostOf(String image) {
    List<String> digests = layerDigests.get(image);
    String best = null;
    long bestHeld = Long.MAX_VALUE;
    for (ClusterNode node : cluster.nodes()) {
      long held = digests.stream().filter(d -> holders(d).contains(node.name())).count();
      if (held < bestHeld) {
        best = node.name();
        bestHeld = held;
      }
    }
    assertThat(bestHeld)
        .as("layers of %s on the reader %s", image, best)
        .isLessThan(digests.size());
    return best;
  }

  private List<String> holders(String digest) {
    return ClusterPods.presentHolders(client, digest);
  }

  private static String manifestDigest(ImageCorpus.Image image) throws Exception {
    JsonNode index = JSON.readTree(image.layout().resolve("index.json").toFile());
    for (JsonNode m : index.path("manifests")) {
      if (image
          .tag()
          .equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
        return m.path("digest").asText();
      }
    }
    throw new IllegalStateException("no manifest tagged " + image.tag() + " in " + image.layout());
  }

  private static JsonNode manifest(ImageCorpus.Image image) throws Exception {
    return JSON.readTree(blob(image, manifestDigest(image)).toFile());
  }

  private static Path blob(ImageCorpus.Image image, String digest) {
    return image.layout().resolve("blobs/sha256").resolve(digest.substring("sha256:".length()));
  }

  private static List<String> layers(ImageCorpus.Image image) throws Exception {
    List<String> out = new ArrayList<>();
    for (JsonNode l : manifest(image).path("layers")) {
      out.add(l.path("digest").asText());
    }
    return out;
  }

  /** The sha256 of one file of the image, as umoci unpacks it on the host. */
  private String sha256OfFileInLayout(String name, String path) throws Exception {
    ImageCorpus.Image image = images.get(name);
    Path bundle = Files.createTempDirectory("corpus-" + name + "-");
    try {
      run(
          "umoci",
          "unpack",
          "--image",
          image.layout() + ":" + image.tag(),
          bundle.resolve("b").toString());
      return io.layerns.csi.store.Digest.of(
              Files.readAllBytes(bundle.resolve("b/rootfs").resolve(path)))
          .hex();
    } finally {
      run("rm", "-rf", bundle.toString());
    }
  }

  private static void run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + out);
    }
  }
}
