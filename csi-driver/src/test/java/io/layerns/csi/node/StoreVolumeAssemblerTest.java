package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodePublishVolumeResponse;
import csi.v1.Csi.VolumeCapability;
import csi.v1.Csi.VolumeCapability.AccessMode;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.mount.RecordingMounter;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.Platform;
import io.layerns.csi.registry.RegistryAddresses;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.TestImage;
import io.layerns.csi.store.DeleteOutcome;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.Nfs4Transport;
import io.layerns.csi.transport.remote.RecordingRemoteMounter;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.SshfsTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resolution order (store, peers, registry) and the choice of transport per layer, with real
 * stores, a real HTTP export as the peer, a small registry, and recorded remote mounts.
 */
class StoreVolumeAssemblerTest {

  // The peers' node key: their HTTP exports' TLS key and the key they publish.
  private static final java.security.KeyPair PEER_KEY =
      io.layerns.csi.transport.TestNodeKeys.generate();
  private static final String HOST_KEY =
      org.apache.sshd.common.config.keys.PublicKeyEntry.toString(PEER_KEY.getPublic());
  private static final String REPO = "team/app";

  @TempDir Path tmp;

  private final TestImage image = TestImage.threeLayers("v1", Platform.LINUX_AMD64);
  private FakeRegistry registry;
  private LocalLayerStore store;
  private ImageImporter importer;
  private LocalLayerStore peerStore;
  private HttpExportServer peerExport;
  private RecordingRemoteMounter remoteMounter;
  private Map<Transport, RemoteLayerMounts> remote;
  private FakeCluster cluster;
  private final List<String> volumes = new ArrayList<>();
  private StoreVolumeAssembler assembler;
  // The volume's secrets: what the kubelet reads from its nodePublishSecretRef.
  private Map<String, String> volumeSecret = Map.of();

  @BeforeEach
  void setUp() throws Exception {
    registry = FakeRegistry.start();
    registry.push(REPO, image, "v1");
    store = LocalLayerStore.open(tmp.resolve("node-3/store"));
    importer =
        new ImageImporter(
            store,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64);
    // node-1 holds the whole image and exports it over HTTP.
    peerStore = LocalLayerStore.open(tmp.resolve("node-1/store"));
    image.writeLayout(tmp.resolve("layout"), "v1");
    new ImageImporter(
            peerStore,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(tmp.resolve("layout"), ImageReference.parse(byTag()));
    peerExport =
        HttpExportServer.start(
            peerStore,
            new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0),
            Set.of(),
            PEER_KEY);
    remoteMounter = new RecordingRemoteMounter();
    remote = new EnumMap<>(Transport.class);
    remote.put(
        Transport.Sshfs,
        RemoteLayerMounts.open(
            tmp.resolve("node-3/remote"),
            new SshfsTransport("layerns", tmp.resolve("id"), tmp.resolve("known_hosts")),
            remoteMounter));
    remote.put(
        Transport.Nfs,
        RemoteLayerMounts.open(
            tmp.resolve("node-3/remote"), new Nfs4Transport("/layerns"), remoteMounter));
    cluster = new FakeCluster();
    assembler = newAssembler(remote);
  }

  @AfterEach
  void tearDown() throws IOException {
    for (String v : volumes) {
      assembler.release(v);
    }
    peerExport.close();
    peerStore.close();
    store.close();
    registry.close();
  }

  @Test
  void imageInTheStoreIsUsedInPlaceWithoutPeersOrSecretsAfterOneHeadOfTheTag() throws Exception {
    image.writeLayout(tmp.resolve("local-layout"), "v1");
    importer.importLayout(tmp.resolve("local-layout"), ImageReference.parse(byTag()));
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byTag());

    assertThat(dirs).containsExactlyElementsOf(storeDirs(store));
    // The registry is asked where the tag points now (no body moves), and nothing else.
    assertThat(registry.requests()).containsExactly("HEAD /v2/" + REPO + "/manifests/v1");
    assertThat(remoteMounter.calls()).isEmpty();
    // The lease keeps the copy while the volume reads it, and only then.
    Digest base = image.layers().getFirst().digest();
    assertThat(store.deleteLayer(base)).isEqualTo(DeleteOutcome.IN_USE);
    assembler.release("vol-1");
    assertThat(store.deleteLayer(base)).isEqualTo(DeleteOutcome.DELETED);
  }

  @Test
  void digestPinnedImageComesFromPeersAndIsMountedWithoutTheRegistry() throws Exception {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(registry.requests()).isEmpty();
    assertThat(dirs).containsExactlyElementsOf(mountPoints(Transport.Sshfs, "node-1"));
    assertThat(remoteMounter.calls())
        .containsExactlyInAnyOrderElementsOf(
            image.layers().stream()
                .map(
                    l ->
                        "mount layerns@127.0.0.1:/sha256/%s/diff %s"
                            .formatted(
                                l.digest().hex(),
                                remote.get(Transport.Sshfs).mountPoint("node-1", l.digest())))
                .toList());
    // Only the manifest and config came over; the layers are read where node-1 keeps them.
    assertThat(store.hasBlob(image.manifestDigest())).isTrue();
    assertThat(store.listLayers()).isEmpty();
    assertThat(assembler.layersRead(state("vol-1", dirs)))
        .containsExactlyElementsOf(
            image.layers().stream()
                .map(l -> new VolumeLayer(l.digest().toString(), "node-1"))
                .toList());
  }

  @Test
  void tagIsResolvedByTheRegistryEvenWhenPeersHoldTheImage() throws Exception {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byTag());

    // The tag itself is the registry's to say; everything it points at comes from the peer.
    assertThat(registry.requests()).containsExactly("HEAD /v2/" + REPO + "/manifests/v1");
    assertThat(dirs).containsExactlyElementsOf(mountPoints(Transport.Sshfs, "node-1"));
  }

  @Test
  void ownersAreMountedFirstAndAFailedMountFallsBackToTheNextHolder() throws Exception {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", false), holder("node-2", true));
    // node-2 stays unreachable: three attempts per layer, then the next holder.
    remoteMounter.failMountsMatching("/node-2/", new IOException("sshfs: connection refused"));

    List<Path> dirs = assemble("vol-1", byDigest());

    List<String> mounts = remoteMounter.calls();
    assertThat(mounts).hasSize(12);
    // node-2 owns the layers: tried first; every layer then came from node-1.
    assertThat(mounts.stream().filter(c -> c.contains("/node-2/")).count()).isEqualTo(9);
    assertThat(mounts.stream().filter(c -> c.contains("/node-1/")).count()).isEqualTo(3);
    assertThat(assembler.layersRead(state("vol-1", dirs)))
        .extracting(VolumeLayer::readsFrom)
        .containsOnly("node-1");
  }

  @Test
  void aMountThatFailsOnceIsRetriedOnTheSameHolder() throws Exception {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", false), holder("node-2", true));
    remoteMounter.failNextMount(new IOException("read: Connection reset by peer"));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(remoteMounter.calls()).hasSize(4).allMatch(c -> c.contains("/node-2/"));
    assertThat(assembler.layersRead(state("vol-1", dirs)))
        .extracting(VolumeLayer::readsFrom)
        .containsOnly("node-2");
  }

  @Test
  void remoteLayerGetsLocalLayersThatRestoreItsWhiteoutsAndOpaqueDirs() throws Exception {
    // mknod and trusted.* xattrs need root, as the node plugin has.
    org.junit.jupiter.api.Assumptions.assumeTrue(
        "root".equals(System.getProperty("user.name")), "needs root");
    TestImage marked =
        new TestImage(
            Platform.LINUX_AMD64,
            List.of(
                TestImage.Layer.of(
                    TestImage.Compression.GZIP,
                    Map.of("etc/removed", "old\n", "app/cache/old", "stale\n")),
                TestImage.Layer.of(
                    TestImage.Compression.GZIP,
                    Map.of(
                        "etc/.wh.removed", "",
                        "app/cache/.wh..wh..opq", "",
                        "app/cache/new", "fresh\n"))),
            false);
    marked.writeLayout(tmp.resolve("marked-layout"), "marked");
    new ImageImporter(
            peerStore,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(
            tmp.resolve("marked-layout"), ImageReference.parse(registry.host() + "/team/m:marked"));
    Set<String> digests =
        Set.copyOf(marked.layers().stream().map(l -> l.digest().toString()).toList());
    cluster.namespace =
        namespace(
            Transport.Sshfs,
            new NamespaceView.PeerStore(
                "node-1", holder("node-1", true).endpoints(), digests, digests));

    List<Path> dirs = assemble("vol-1", registry.host() + "/team/m@" + marked.manifestDigest());

    RemoteLayerMounts sshfs = remote.get(Transport.Sshfs);
    Path base = sshfs.mountPoint("node-1", marked.layers().get(0).digest());
    Path top = sshfs.mountPoint("node-1", marked.layers().get(1).digest());
    // base, then the top layer between its two local helpers.
    assertThat(dirs).hasSize(4);
    assertThat(dirs.get(0)).isEqualTo(base);
    assertThat(dirs.get(2)).isEqualTo(top);
    Path below = dirs.get(1);
    Path above = dirs.get(3);
    assertThat(
            io.layerns.csi.store.posix.Posix.lgetxattr(
                below.resolve("app/cache"), "trusted.overlay.opaque"))
        .hasValueSatisfying(v -> assertThat(new String(v)).isEqualTo("y"));
    assertThat(java.nio.file.Files.list(below.resolve("app/cache"))).isEmpty();
    Path whiteout = above.resolve("etc/removed");
    assertThat(
            (Integer)
                    java.nio.file.Files.getAttribute(
                        whiteout, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS)
                & 0170000)
        .isEqualTo(0020000);
    assertThat(
            java.nio.file.Files.getAttribute(
                whiteout, "unix:rdev", java.nio.file.LinkOption.NOFOLLOW_LINKS))
        .isEqualTo(0L);
    // The helpers are not layers: the status still lists exactly the image's two.
    assertThat(assembler.layersRead(state("vol-1", dirs)))
        .extracting(VolumeLayer::digest)
        .containsExactly(
            marked.layers().get(0).digest().toString(), marked.layers().get(1).digest().toString());
  }

  @Test
  void nfsTransportMountsTheHoldersNfsExport() throws Exception {
    cluster.namespace = namespace(Transport.Nfs, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(dirs).containsExactlyElementsOf(mountPoints(Transport.Nfs, "node-1"));
    assertThat(remoteMounter.calls())
        .allMatch(c -> c.startsWith("mount 127.0.0.1:/layerns/sha256/"))
        .hasSize(3);
  }

  @Test
  void nfsTransportCopiesALayerAMemberMarksPrivateInsteadOfMountingItAndKeepsTheMark()
      throws Exception {
    // node-1 publishes its second layer as private to the registry's repository, which lets the
    // pod read it (anonymously here): the pod may use it, but not over NFS.
    TestImage.Layer secret = image.layers().get(1);
    String repository = registry.host() + "/" + REPO;
    NamespaceView.PeerStore h = holder("node-1", true);
    cluster.namespace =
        namespace(
            Transport.Nfs,
            new NamespaceView.PeerStore(
                h.node(),
                h.endpoints(),
                h.present(),
                h.owned(),
                Map.of(secret.digest().toString(), Set.of(repository))));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(remoteMounter.calls())
        .hasSize(2)
        .allMatch(c -> c.startsWith("mount 127.0.0.1:/layerns/sha256/"))
        .noneMatch(c -> c.contains(secret.digest().hex()));
    assertThat(dirs.get(1)).isEqualTo(store.layer(secret.digest()).orElseThrow().directory());
    // Its copy here is private as well: refused to pods without access after node-1 drops it.
    assertThat(importer.privateImages().layerRepositories(secret.digest()))
        .containsExactly(repository);
  }

  @Test
  void copyTransportFetchesFromTheHolderAndReadsTheLocalCopy() throws Exception {
    cluster.namespace = namespace(Transport.Copy, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(remoteMounter.calls()).isEmpty();
    assertThat(registry.requests()).isEmpty();
    assertThat(dirs).containsExactlyElementsOf(storeDirs(store));
    for (TestImage.Layer l : image.layers()) {
      assertThat(store.layer(l.digest()).orElseThrow().diffId()).isEqualTo(l.diffId());
    }
    assertThat(assembler.layersRead(state("vol-1", dirs)))
        .extracting(VolumeLayer::readsFrom)
        .containsOnly("node-3");
  }

  @Test
  void remoteTransportNotSetUpOnThisNodeCopiesInstead() throws Exception {
    assembler = newAssembler(Map.of());
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(dirs).containsExactlyElementsOf(storeDirs(store));
    assertThat(remoteMounter.calls()).isEmpty();
  }

  @Test
  void layersNoPeerHoldsComeFromTheRegistry() throws Exception {
    // A member with an HTTP export that holds nothing of this image.
    cluster.namespace =
        namespace(
            Transport.Sshfs,
            new NamespaceView.PeerStore(
                "node-2", new StoreEndpoints(peerUrl(), null, HOST_KEY, null), Set.of(), Set.of()));
    peerStore.close();
    peerExport.close();
    peerStore = LocalLayerStore.open(tmp.resolve("node-2/store"));
    peerExport =
        HttpExportServer.start(
            peerStore,
            new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0),
            Set.of(),
            PEER_KEY);

    List<Path> dirs = assemble("vol-1", byDigest());

    assertThat(dirs).containsExactlyElementsOf(storeDirs(store));
    assertThat(registry.requests())
        .filteredOn(r -> r.contains("/blobs/sha256:"))
        .hasSize(4); // config and three layers
    assertThat(remoteMounter.calls()).isEmpty();
  }

  @Test
  void unknownImageIsNotFoundAndNamesTheImage() {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));
    String unknown = registry.host() + "/team/other:v9";

    assertThatThrownBy(() -> assemble("vol-1", unknown))
        .isInstanceOf(ImageNotFoundException.class)
        .hasMessageContaining(unknown);
  }

  @Test
  void malformedReferenceIsNotFoundAndSaysWhy() {
    assertThatThrownBy(() -> assemble("vol-1", "Team/UPPER:case"))
        .isInstanceOf(ImageNotFoundException.class)
        .hasMessageContaining("not a valid image reference");
  }

  @Test
  void privateImageNeedsThePodsPullSecretAndSaysWhichRegistryRefused() throws Exception {
    registry.makePrivate(REPO, "puller", "s3cret");

    assertThatThrownBy(() -> assemble("vol-1", byTag()))
        .isInstanceOf(ImageAccessDeniedException.class)
        .hasMessageContaining("registry " + registry.host() + " refused image " + byTag())
        .hasMessageContaining("the registry answered 401")
        .hasMessageContaining("the pod has no pull credentials for " + registry.host())
        .hasMessageNotContaining("s3cret");

    volumeSecret = dockerConfigSecret(registry.host(), "puller", "s3cret");
    List<Path> dirs = assemble("vol-2", byTag());
    assertThat(dirs).containsExactlyElementsOf(storeDirs(store));
  }

  @Test
  void aPrivateImageTheNodeHoldsIsRefusedToAPodWhoseSecretsCannotReadIt() throws Exception {
    registry.makePrivate(REPO, "puller", "s3cret");
    volumeSecret = dockerConfigSecret(registry.host(), "puller", "s3cret");
    assemble("vol-a", byTag()); // pod A pulls the image with its secret: now in the store
    assertThat(importer.privateImages().repositories(image.manifestDigest()))
        .containsExactly(registry.host() + "/" + REPO);
    int before = registry.requests().size();

    // Pod B: no secret, then a wrong one; every layer is in the store, the registry decides.
    volumeSecret = Map.of();
    assertThatThrownBy(() -> assemble("vol-b", byDigest()))
        .isInstanceOf(ImageAccessDeniedException.class)
        .hasMessageContaining("refused image " + byDigest())
        .hasMessageContaining("nodePublishSecretRef")
        .hasMessageContaining("private");
    volumeSecret = dockerConfigSecret(registry.host(), "puller", "wrong");
    assertThatThrownBy(() -> assemble("vol-b2", byTag()))
        .isInstanceOf(ImageAccessDeniedException.class)
        .hasMessageContaining("refused image " + byTag())
        .hasMessageContaining("with the pod's pull credentials")
        .hasMessageNotContaining("has no pull credentials");
    // Only HEADs of the manifest, by digest or by the tag: no private byte moved.
    assertThat(registry.requests().subList(before, registry.requests().size()))
        .allMatch(
            r ->
                r.equals("HEAD /v2/" + REPO + "/manifests/" + image.manifestDigest())
                    || r.equals("HEAD /v2/" + REPO + "/manifests/v1"));

    // Pod C: the right secret; one HEAD, then remembered for the next pods.
    volumeSecret = dockerConfigSecret(registry.host(), "puller", "s3cret");
    int beforeC = registry.requests().size();
    assertThat(assemble("vol-c", byDigest())).containsExactlyElementsOf(storeDirs(store));
    assertThat(assemble("vol-c2", byDigest())).containsExactlyElementsOf(storeDirs(store));
    assertThat(registry.requests().subList(beforeC, registry.requests().size()))
        .containsExactly("HEAD /v2/" + REPO + "/manifests/" + image.manifestDigest());
  }

  @Test
  void aPublicImageNeedsNoRegistryRequestToBeUsedAgain() throws Exception {
    assemble("vol-1", byTag()); // anonymous pull: public
    assertThat(importer.privateImages().isPrivate(image.manifestDigest())).isFalse();
    int before = registry.requests().size();

    assemble("vol-2", byDigest());

    assertThat(registry.requests()).hasSize(before);
  }

  @Test
  void aPrivateImageFailsClosedWhenItsRegistryCannotBeAsked() throws Exception {
    registry.makePrivate(REPO, "puller", "s3cret");
    volumeSecret = dockerConfigSecret(registry.host(), "puller", "s3cret");
    assemble("vol-1", byTag());
    registry.close();

    assertThatThrownBy(() -> assemble("vol-2", byDigest()))
        .isInstanceOf(IOException.class)
        .isNotInstanceOf(ImageAccessDeniedException.class)
        .hasMessageContaining("image " + byDigest() + " is private")
        .hasMessageContaining("could not be asked");
  }

  @Test
  void theHttpExportServesNoPrivateManifestOrConfigButServesItsLayers() throws Exception {
    registry.makePrivate(REPO, "puller", "s3cret");
    volumeSecret = dockerConfigSecret(registry.host(), "puller", "s3cret");
    assemble("vol-1", byTag());
    java.security.KeyPair exportKey = io.layerns.csi.transport.TestNodeKeys.generate();
    try (HttpExportServer export =
        HttpExportServer.start(
            store,
            new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0),
            Set.of(),
            exportKey)) {
      java.net.http.HttpClient http =
          PeerFetcher.httpClient(
              null,
              io.layerns.csi.transport.TestNodeKeys.generate(),
              io.layerns.csi.transport.TestNodeKeys.published(Map.of(export.baseUri(), exportKey)));
      java.util.function.Function<String, java.net.http.HttpResponse<String>> get =
          path -> {
            try {
              return http.send(
                  java.net.http.HttpRequest.newBuilder(java.net.URI.create(export.baseUri() + path))
                      .build(),
                  java.net.http.HttpResponse.BodyHandlers.ofString());
            } catch (IOException | InterruptedException e) {
              throw new AssertionError(e);
            }
          };

      var manifest = get.apply("/v2/x/manifests/" + image.manifestDigest());
      var manifestAsBlob = get.apply("/v2/x/blobs/" + image.manifestDigest());
      var byTag = get.apply("/v2/" + registry.host() + "/" + REPO + "/manifests/v1");
      var config = get.apply("/v2/x/blobs/" + image.configDigest());
      var layer = get.apply("/v2/x/blobs/" + image.layers().getFirst().digest());

      assertThat(manifest.statusCode()).isEqualTo(404);
      assertThat(manifest.body()).contains("private image");
      assertThat(manifestAsBlob.statusCode()).isEqualTo(404);
      assertThat(byTag.statusCode()).isEqualTo(404);
      assertThat(config.statusCode()).isEqualTo(404);
      assertThat(layer.statusCode()).isEqualTo(200);
    }
  }

  @Test
  void accessDeniedIsAnsweredPermissionDeniedByTheNodeService() throws Exception {
    registry.makePrivate(REPO, "puller", "s3cret");
    NodeService node =
        new NodeService(
            "node-3", assembler, new RecordingMounter(), new VolumeStateStore(tmp.resolve("csi")));
    AtomicReference<Throwable> error = new AtomicReference<>();
    node.nodePublishVolume(
        NodePublishVolumeRequest.newBuilder()
            .setVolumeId("vol-1")
            .setTargetPath(tmp.resolve("target").toString())
            .setVolumeCapability(
                VolumeCapability.newBuilder()
                    .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                    .setAccessMode(
                        AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)))
            .putVolumeContext(NodeService.EPHEMERAL_KEY, "true")
            .putVolumeContext(NodeService.IMAGE_KEY, byTag())
            .build(),
        new StreamObserver<NodePublishVolumeResponse>() {
          @Override
          public void onNext(NodePublishVolumeResponse value) {}

          @Override
          public void onError(Throwable t) {
            error.set(t);
          }

          @Override
          public void onCompleted() {}
        });

    Status status = Status.fromThrowable(error.get());
    assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(status.getDescription()).contains("registry " + registry.host());
  }

  @Test
  void sharedRemoteMountsGoWhenTheLastVolumeLetsGo() throws Exception {
    cluster.namespace = namespace(Transport.Sshfs, holder("node-1", true));
    assemble("vol-1", byDigest());
    assemble("vol-2", byDigest());
    assertThat(remoteMounter.calls()).hasSize(3).allMatch(c -> c.startsWith("mount "));

    assembler.release("vol-1");
    assertThat(remoteMounter.mountPoints()).hasSize(3);

    assembler.release("vol-2");
    assertThat(remoteMounter.mountPoints()).isEmpty();
    assertThat(remoteMounter.calls()).filteredOn(c -> c.startsWith("unmount ")).hasSize(3);
  }

  @Test
  void afterARestartPublishedVolumesKeepTheirLayersAndGoneOnesReleaseTheirs() throws Exception {
    image.writeLayout(tmp.resolve("local-layout"), "v1");
    importer.importLayout(tmp.resolve("local-layout"), ImageReference.parse(byTag()));
    // vol-local reads the store; vol-remote and vol-gone read node-1's copies of another image.
    TestImage other = TestImage.threeLayers("v2", Platform.LINUX_AMD64);
    other.writeLayout(tmp.resolve("other-layout"), "v2");
    new ImageImporter(
            peerStore,
            new RegistryClient(Set.of(), RegistryAddresses.parse("127.0.0.0/8")),
            Platform.LINUX_AMD64)
        .importLayout(
            tmp.resolve("other-layout"), ImageReference.parse(registry.host() + "/team/app:v2"));
    Set<String> both = new java.util.HashSet<>(holder("node-1", true).present());
    other.layers().forEach(l -> both.add(l.digest().toString()));
    cluster.namespace =
        namespace(
            Transport.Sshfs,
            new NamespaceView.PeerStore(
                "node-1", holder("node-1", true).endpoints(), both, Set.of()));
    String otherRef = registry.host() + "/team/app@" + other.manifestDigest();
    List<Path> local = assemble("vol-local", byDigest());
    List<Path> remoteDirs = assemble("vol-remote", otherRef);
    assemble("vol-gone", otherRef);

    // The plugin restarts: a new assembler over the same state; vol-gone was not mounted any more.
    StoreVolumeAssembler restarted = newAssembler(reopenRemote());
    restarted.adopt(List.of(state("vol-local", local), state("vol-remote", remoteDirs)));
    assembler = restarted;
    volumes.remove("vol-gone");

    assertThat(remoteMounter.mountPoints()).hasSize(3);
    Digest base = image.layers().getFirst().digest();
    // The old process's leases died with it (here: released); the new one's hold the layer.
    assertThat(store.deleteLayer(base)).isEqualTo(DeleteOutcome.IN_USE);
    restarted.release("vol-remote");
    assertThat(remoteMounter.mountPoints()).isEmpty();
  }

  // ---- helpers --------------------------------------------------------------------------------

  private StoreVolumeAssembler newAssembler(Map<Transport, RemoteLayerMounts> mounts) {
    return new StoreVolumeAssembler(
        "node-3",
        importer,
        new PeerFetcher(
            importer,
            PeerFetcher.httpClient(
                null,
                io.layerns.csi.transport.TestNodeKeys.generate(),
                new io.layerns.csi.node.MemberExportKeys(cluster)),
            Duration.ofSeconds(10)),
        cluster,
        mounts,
        tmp.resolve("node-3/csi"));
  }

  private Map<Transport, RemoteLayerMounts> reopenRemote() throws IOException {
    Map<Transport, RemoteLayerMounts> m = new EnumMap<>(Transport.class);
    m.put(
        Transport.Sshfs,
        RemoteLayerMounts.open(
            tmp.resolve("node-3/remote"),
            new SshfsTransport("layerns", tmp.resolve("id"), tmp.resolve("known_hosts")),
            remoteMounter));
    return m;
  }

  private List<Path> assemble(String volumeId, String ref) throws Exception {
    volumes.add(volumeId);
    return assembler.assemble(
        new AssemblyRequest(
            volumeId, ref, new PodInfo("pod", "default", "uid-1", "default"), true, volumeSecret));
  }

  private String byTag() {
    return registry.host() + "/" + REPO + ":v1";
  }

  private String byDigest() {
    return registry.host() + "/" + REPO + "@" + image.manifestDigest();
  }

  private String peerUrl() {
    return peerExport.baseUri().toString();
  }

  private List<Path> storeDirs(LocalLayerStore s) throws IOException {
    List<Path> out = new ArrayList<>();
    for (TestImage.Layer l : image.layers()) {
      out.add(s.layer(l.digest()).orElseThrow().directory());
    }
    return out;
  }

  private List<Path> mountPoints(Transport t, String node) {
    return image.layers().stream().map(l -> remote.get(t).mountPoint(node, l.digest())).toList();
  }

  private NamespaceView.PeerStore holder(String node, boolean owner) {
    Set<String> digests =
        Set.copyOf(image.layers().stream().map(l -> l.digest().toString()).toList());
    return new NamespaceView.PeerStore(
        node,
        new StoreEndpoints(peerUrl(), "127.0.0.1:2222", HOST_KEY, "127.0.0.1:/layerns"),
        digests,
        owner ? digests : Set.of());
  }

  private static NamespaceView namespace(Transport t, NamespaceView.PeerStore... peers) {
    return new NamespaceView("pool", t, List.of(peers));
  }

  private static VolumeState state(String volumeId, List<Path> dirs) {
    return new VolumeState(
        volumeId, Path.of("/target/" + volumeId), "image", true, dirs, null, null);
  }

  /** A volume's secrets as the kubelet passes a kubernetes.io/dockerconfigjson Secret's data. */
  private static Map<String, String> dockerConfigSecret(String host, String user, String password) {
    String auth =
        Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    return Map.of(
        DockerConfig.SECRET_KEY, "{\"auths\":{\"" + host + "\":{\"auth\":\"" + auth + "\"}}}");
  }

  /** The cluster as the test sets it. */
  private static final class FakeCluster implements ClusterView {
    volatile NamespaceView namespace = NamespaceView.NONE;

    @Override
    public NamespaceView namespace() {
      return namespace;
    }
  }
}
