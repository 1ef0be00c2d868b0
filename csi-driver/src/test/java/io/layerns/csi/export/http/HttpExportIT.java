package io.layerns.csi.export.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.layerns.csi.identity.NodeCertificate;
import io.layerns.csi.identity.NodeTls;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.MediaTypes;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.TestNodeKeys;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads the HTTP export with plain registry clients, skopeo and curl, over TLS as a member reads
 * it: pinning the key the export's node published, presenting a member's key in a certificate.
 */
class HttpExportIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final KeyPair EXPORT_KEY = TestNodeKeys.generate();
  private static final KeyPair MEMBER_KEY = TestNodeKeys.generate();
  private static final KeyPair STRANGER_KEY = TestNodeKeys.generate();

  @TempDir static Path tmp;
  private static LocalLayerStore store;
  private static HttpExportServer export;
  private static TestImage image;
  private static PulledImage pulled;
  private static String base;
  // curl and skopeo read PEM files: the member's certificate and key, and a stranger's.
  private static Path certs;

  @BeforeAll
  static void serve() throws Exception {
    store = LocalLayerStore.open(tmp.resolve("store"));
    image = TestImage.threeLayers("export", Platform.LINUX_AMD64);
    image.writeLayout(tmp.resolve("layout"), "v1");
    pulled =
        new ImageImporter(
                store,
                new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
                Platform.LINUX_AMD64)
            .importLayout(
                tmp.resolve("layout"), ImageReference.parse("origin.example/team/app:v1"));
    // Loopback connections leave from 127.0.0.1 unless a client binds another address.
    export =
        HttpExportServer.start(
            store,
            new InetSocketAddress("127.0.1.2", 0),
            Set.of(InetAddress.getByName("127.0.0.1"), InetAddress.getByName("127.0.1.1")),
            EXPORT_KEY);
    export.allowKeys(Set.of(MEMBER_KEY.getPublic()));
    base = export.baseUri().toString();
    certs = Files.createDirectories(tmp.resolve("certs"));
    writePem(certs.resolve("client.cert"), "CERTIFICATE", cert(MEMBER_KEY));
    writePem(certs.resolve("client.key"), "PRIVATE KEY", MEMBER_KEY.getPrivate().getEncoded());
    writePem(tmp.resolve("stranger.cert"), "CERTIFICATE", cert(STRANGER_KEY));
    writePem(tmp.resolve("stranger.key"), "PRIVATE KEY", STRANGER_KEY.getPrivate().getEncoded());
  }

  @AfterAll
  static void stop() throws IOException {
    if (export != null) {
      export.close();
    }
    if (store != null) {
      store.close();
    }
  }

  @Test
  void skopeoCopiesAnImageByDigestUnderAnyName() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/skopeo")), "needs skopeo");
    String host = export.address().getAddress().getHostAddress() + ":" + export.address().getPort();
    // skopeo copy reads the manifest, the config and every blob, checking each digest; it does not
    // pin keys, so it trusts any certificate, and presents the member's from its cert dir.
    Path out = tmp.resolve("copied");
    Result copy =
        run(
            "skopeo",
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            "--src-cert-dir",
            certs.toString(),
            "--preserve-digests",
            "--dest-oci-accept-uncompressed-layers",
            "docker://" + host + "/any/name@" + pulled.manifestDigest(),
            "oci:" + out + ":copied");
    assertThat(copy.exit()).as(copy.err()).isZero();
    for (TestImage.Layer l : image.layers()) {
      assertThat(out.resolve("blobs/sha256/" + l.digest().hex())).hasBinaryContent(l.blob());
    }
    assertThat(out.resolve("blobs/sha256/" + pulled.manifestDigest().hex()))
        .hasBinaryContent(image.manifest());

    Result inspect = run("skopeo", "inspect", "oci:" + out + ":copied");
    assertThat(inspect.exit()).as(inspect.err()).isZero();
    JsonNode json = JSON.readTree(inspect.out());
    assertThat(json.path("Digest").asText()).isEqualTo(pulled.manifestDigest().toString());
    assertThat(json.path("Architecture").asText()).isEqualTo("amd64");
    List<String> layers = new ArrayList<>();
    json.path("Layers").forEach(l -> layers.add(l.asText()));
    assertThat(layers)
        .containsExactlyElementsOf(
            image.layers().stream().map(l -> l.digest().toString()).toList());
  }

  @Test
  void servesTheApiVersionAndBlobHeaders() throws Exception {
    Result v2 = curl("-i", base + "/v2/");
    assertThat(v2.out())
        .startsWith("HTTP/1.1 200")
        .containsIgnoringCase("Docker-Distribution-API-Version: registry/2.0");

    TestImage.Layer layer = image.layers().getFirst();
    Result head = curl("-I", base + "/v2/whatever/blobs/" + layer.digest());
    assertThat(head.out())
        .startsWith("HTTP/1.1 200")
        .containsIgnoringCase("Content-Length: " + layer.blob().length)
        .containsIgnoringCase("Docker-Content-Digest: " + layer.digest())
        .containsIgnoringCase("Accept-Ranges: bytes");

    Path whole = tmp.resolve("whole");
    Result get =
        curl("-o", whole.toString(), "-w", "%{http_code}", base + "/v2/x/blobs/" + layer.digest());
    assertThat(get.out()).isEqualTo("200");
    assertThat(whole).hasBinaryContent(layer.blob());
  }

  @Test
  void servesRangesAndRefusesUnsatisfiableOnes() throws Exception {
    TestImage.Layer layer = image.layers().get(2);
    byte[] blob = layer.blob();
    Path part = tmp.resolve("part");
    Path headers = tmp.resolve("part-headers");
    Result partial =
        curl(
            "-r",
            "10-19",
            "-D",
            headers.toString(),
            "-o",
            part.toString(),
            "-w",
            "%{http_code}",
            base + "/v2/x/blobs/" + layer.digest());
    assertThat(partial.out()).isEqualTo("206");
    assertThat(Files.readString(headers))
        .containsIgnoringCase("Content-Range: bytes 10-19/" + blob.length)
        .containsIgnoringCase("Content-Length: 10");
    assertThat(part).hasBinaryContent(Arrays.copyOfRange(blob, 10, 20));

    Result tail =
        curl(
            "-r",
            "-7",
            "-o",
            part.toString(),
            "-w",
            "%{http_code}",
            base + "/v2/x/blobs/" + layer.digest());
    assertThat(tail.out()).isEqualTo("206");
    assertThat(part).hasBinaryContent(Arrays.copyOfRange(blob, blob.length - 7, blob.length));

    Result beyond = curl("-i", "-r", blob.length + "-", base + "/v2/x/blobs/" + layer.digest());
    assertThat(beyond.out())
        .startsWith("HTTP/1.1 416")
        .containsIgnoringCase("Content-Range: bytes */" + blob.length)
        .contains("\"code\":\"RANGE_INVALID\"");
  }

  @Test
  void servesManifestsWithTheirMediaTypeByDigestAndByTag() throws Exception {
    byte[] manifest = image.manifest();
    Path body = tmp.resolve("manifest");
    Path headers = tmp.resolve("manifest-headers");
    for (String ref : List.of(pulled.manifestDigest().toString(), "v1")) {
      Result r =
          curl(
              "-D",
              headers.toString(),
              "-o",
              body.toString(),
              "-w",
              "%{http_code}",
              base + "/v2/team/app/manifests/" + ref);
      assertThat(r.out()).as(ref).isEqualTo("200");
      assertThat(Files.readString(headers))
          .containsIgnoringCase("Content-Type: " + MediaTypes.OCI_MANIFEST)
          .containsIgnoringCase("Docker-Content-Digest: " + Digest.of(manifest));
      assertThat(body).hasBinaryContent(manifest);
    }
    // A layer is a blob, not a manifest.
    Result layerAsManifest =
        curl(
            "-w",
            "\n%{http_code}",
            base + "/v2/team/app/manifests/" + image.layers().getFirst().digest());
    assertThat(layerAsManifest.out()).endsWith("404").contains("MANIFEST_UNKNOWN");
  }

  @Test
  void unknownDigestsAre404WithAnOciErrorBody() throws Exception {
    Digest unknown = Digest.of("not stored".getBytes(StandardCharsets.UTF_8));
    Result r = curl("-w", "\n%{http_code}", base + "/v2/x/blobs/" + unknown);
    String[] lines = r.out().split("\n");
    assertThat(lines[lines.length - 1]).isEqualTo("404");
    JsonNode error = JSON.readTree(lines[0]).path("errors").path(0);
    assertThat(error.path("code").asText()).isEqualTo("BLOB_UNKNOWN");
    assertThat(error.path("message").asText()).contains(unknown.toString());

    Result bad = curl("-w", "\n%{http_code}", base + "/v2/x/blobs/sha256:short");
    assertThat(bad.out()).endsWith("400").contains("DIGEST_INVALID");
  }

  @Test
  void writesAreRefusedWith405() throws Exception {
    for (String method : List.of("PUT", "POST", "DELETE", "PATCH")) {
      Result r =
          curl(
              "-i",
              "-X",
              method,
              "--data-binary",
              "x",
              base + "/v2/x/blobs/" + image.layers().getFirst().digest());
      assertThat(r.out())
          .as(method)
          .startsWith("HTTP/1.1 405")
          .containsIgnoringCase("Allow: GET, HEAD");
    }
    assertThat(store.blob(image.layers().getFirst().digest()).orElseThrow())
        .hasBinaryContent(image.layers().getFirst().blob());
  }

  @Test
  void aClientNotOnTheAllowListGets403() throws Exception {
    Result stranger =
        curl(
            "-i",
            "--interface",
            "127.0.1.9",
            base + "/v2/x/blobs/" + image.layers().getFirst().digest());
    assertThat(stranger.out())
        .startsWith("HTTP/1.1 403")
        .contains("\"code\":\"DENIED\"")
        .contains("127.0.1.9");
    Result member =
        curl("-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.1.1", base + "/v2/");
    assertThat(member.out()).isEqualTo("200");
  }

  @Test
  void theExportSpeaksTlsOnlyWithTheNodesKeyAndServesMembersKeysOnly() throws Exception {
    String blob = base + "/v2/x/blobs/" + image.layers().getFirst().digest();

    Result noKey = anonymousCurl("-i", blob);
    assertThat(noKey.out())
        .startsWith("HTTP/1.1 403")
        .contains("\"code\":\"DENIED\"")
        .contains("presented no certificate");
    Result stranger =
        anonymousCurl(
            "-i",
            "--cert",
            tmp.resolve("stranger.cert").toString(),
            "--key",
            tmp.resolve("stranger.key").toString(),
            blob);
    assertThat(stranger.out())
        .startsWith("HTTP/1.1 403")
        .contains("holds a key no member node published")
        .contains(NodeTls.describe(STRANGER_KEY.getPublic()));
    // /v2/ holds nothing and answers allowed addresses without a key, as registry clients probe it.
    assertThat(anonymousCurl("-o", "/dev/null", "-w", "%{http_code}", base + "/v2/").out())
        .isEqualTo("200");

    // In clear, nothing answers: no status line, no byte of the blob.
    Result plain = anonymousCurl("-i", blob.replaceFirst("^https:", "http:"));
    assertThat(plain.exit()).as(plain.err()).isNotZero();
    assertThat(plain.out()).doesNotContain("HTTP/1.1");

    // curl's own pinning: the export presents exactly its node's key, and nothing else passes.
    Result wrongPin =
        run(
            "curl",
            "-sS",
            "--max-time",
            "20",
            "-k",
            "--pinnedpubkey",
            pin(STRANGER_KEY.getPublic()),
            base + "/v2/");
    assertThat(wrongPin.exit()).isNotZero();
    assertThat(wrongPin.err()).containsIgnoringCase("public key");
  }

  /** curl as a member: pinning the export's key and presenting the member's certificate. */
  private static Result curl(String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "--cert",
                certs.resolve("client.cert").toString(),
                "--key",
                certs.resolve("client.key").toString()));
    cmd.addAll(List.of(args));
    return anonymousCurl(cmd.toArray(String[]::new));
  }

  /** curl pinning the export's key, with no certificate of its own unless {@code args} give one. */
  private static Result anonymousCurl(String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "curl",
                "-sS",
                "--max-time",
                "20",
                // -k: no certificate authority vouches for a node; the pinned key does.
                "-k",
                "--pinnedpubkey",
                pin(EXPORT_KEY.getPublic())));
    cmd.addAll(List.of(args));
    return run(cmd.toArray(String[]::new));
  }

  /** curl's form of a pinned key: the SHA-256 of its SubjectPublicKeyInfo, in base64. */
  private static String pin(PublicKey key) throws Exception {
    return "sha256//"
        + Base64.getEncoder()
            .encodeToString(MessageDigest.getInstance("SHA-256").digest(key.getEncoded()));
  }

  private static byte[] cert(KeyPair pair) throws Exception {
    return NodeCertificate.selfSigned(pair).getEncoded();
  }

  private static void writePem(Path file, String type, byte[] der) throws IOException {
    Files.writeString(
        file,
        "-----BEGIN "
            + type
            + "-----\n"
            + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(der)
            + "\n-----END "
            + type
            + "-----\n");
  }

  private record Result(int exit, String out, String err) {}

  private static Result run(String... command) throws Exception {
    Path out = Files.createTempFile(tmp, "out", "");
    Path err = Files.createTempFile(tmp, "err", "");
    Process p =
        new ProcessBuilder(command)
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("timed out: " + String.join(" ", command));
    }
    return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
  }
}
