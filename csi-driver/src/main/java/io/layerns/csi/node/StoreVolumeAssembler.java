package io.layerns.csi.node;

import io.layerns.api.v1alpha1.StoreEndpoints;
import io.layerns.api.v1alpha1.Transport;
import io.layerns.api.v1alpha1.VolumeLayer;
import io.layerns.csi.export.http.HttpExportServer;
import io.layerns.csi.registry.ContentSource;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.FetchedManifest;
import io.layerns.csi.registry.ImageConfig;
import io.layerns.csi.registry.ImageImporter;
import io.layerns.csi.registry.ImageReference;
import io.layerns.csi.registry.PulledImage;
import io.layerns.csi.registry.RegistryClient;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.registry.ResolvedImage;
import io.layerns.csi.store.Digest;
import io.layerns.csi.store.LayerLease;
import io.layerns.csi.store.LocalLayerStore;
import io.layerns.csi.store.OverlayMarkers;
import io.layerns.csi.store.StoredLayer;
import io.layerns.csi.transport.PeerFetcher;
import io.layerns.csi.transport.remote.Peer;
import io.layerns.csi.transport.remote.RemoteLayerMounts;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Assembles a volume from the global layer namespace: resolves the image (this node's store, then
 * the member nodes' HTTP exports for an image pinned by digest, then the registry with the pod's
 * credentials, from the volume's nodePublishSecretRef), then makes each layer available: the local
 * copy when the node holds it, else a peer's copy per the namespace's transport (a shared remote
 * mount for {@code Sshfs} and {@code Nfs}, a verified local copy fetched from a peer for {@code
 * Copy}), else a fetch from the registry.
 *
 * <p>Local layers are leased, so the store does not delete them while the volume uses them; remote
 * mounts are held in the volume's name, so the last volume that lets go unmounts them. Whose copy
 * each volume reads is derived from its lower dirs (store paths and mount points say it), so it
 * survives a restart with the volume state files; see {@link #layersRead}.
 */
public final class StoreVolumeAssembler implements VolumeAssembler {

  private static final Logger LOG = LoggerFactory.getLogger(StoreVolumeAssembler.class);

  /** The NFSv4 port; the {@code nfs} endpoint is {@code host:path} and names none. */
  static final int NFS_PORT = 2049;

  private final String nodeName;
  private final ImageImporter importer;
  private final LocalLayerStore store;
  private final PeerFetcher peers;
  private final ClusterView cluster;
  private final Map<Transport, RemoteLayerMounts> remote;
  private final OverlayShims shims;
  private final ImageAccess access;
  private final Map<String, List<LayerLease>> leases = new ConcurrentHashMap<>();

  /** The transport label of each volume being assembled or published (see transport()). */
  private final Map<String, String> transports = new ConcurrentHashMap<>();

  private static final String COPIED = "copy";

  /** The cold tier's buckets; null: layers no member holds come from the registry only. */
  private volatile io.layerns.csi.cold.ColdBuckets cold;

  /**
   * Reads what no member holds from the namespace's cold tier bucket, before the registry (see
   * {@link NamespaceView#coldTier()}).
   */
  public void useColdTier(io.layerns.csi.cold.ColdBuckets buckets) {
    this.cold = buckets;
  }

  /**
   * What to try after the peers: the namespace's bucket (when it has a cold tier), then the
   * registry. A bucket that cannot be used (its Secret missing, say) is left out, logged: the
   * registry may still serve.
   */
  private List<ContentSource> fallbacks(NamespaceView ns, ContentSource registry) {
    io.layerns.csi.cold.ColdBuckets buckets = cold;
    if (buckets == null || ns.coldTier() == null) {
      return List.of(registry);
    }
    try {
      return List.of(buckets.source(ns.coldTier()).orElseThrow(), registry);
    } catch (io.layerns.csi.cold.BucketException e) {
      LOG.warn("the cold tier's bucket cannot be read, trying the registry: {}", e.getMessage());
      return List.of(registry);
    }
  }

  /**
   * @param nodeName this node's name: what {@code readsFrom} says for a local copy
   * @param importer the importer of this node's store
   * @param peers fetches from peers' HTTP exports (the Copy transport, and image metadata)
   * @param cluster the node's namespace
   * @param remote the remote mounts per remote transport ({@code Sshfs}, {@code Nfs}); a transport
   *     missing here (no client key, say) falls back to copying the layer
   * @param stateDir where the assembler keeps the local layers that restore whiteouts and opaque
   *     directories around remote mounts (see {@link OverlayShims})
   */
  public StoreVolumeAssembler(
      String nodeName,
      ImageImporter importer,
      PeerFetcher peers,
      ClusterView cluster,
      Map<Transport, RemoteLayerMounts> remote,
      Path stateDir) {
    this.nodeName = nodeName;
    this.importer = importer;
    this.store = importer.store();
    this.peers = peers;
    this.cluster = cluster;
    if (remote.containsKey(Transport.Copy)) {
      throw new IllegalArgumentException("Copy is not a remote-mount transport");
    }
    this.remote = remote.isEmpty() ? Map.of() : new EnumMap<>(remote);
    this.shims = new OverlayShims(stateDir.resolve("shims"));
    this.access =
        new ImageAccess(
            importer.privateImages(),
            importer.registryClient(),
            ImageAccess.DEFAULT_TTL,
            java.time.Clock.systemUTC());
  }

  /**
   * One layer as a volume uses it: its lower dirs (the layer, between the local layers that restore
   * its markers when it is remote), and the node whose copy they show.
   */
  record LayerUse(Digest digest, List<Path> directories, String readsFrom) {
    LayerUse(Digest digest, Path directory, String readsFrom) {
      this(digest, List.of(directory), readsFrom);
    }
  }

  @Override
  public String transport(String volumeId) {
    return transports.getOrDefault(volumeId, "local");
  }

  @Override
  public List<Path> assemble(AssemblyRequest request)
      throws ImageNotFoundException, ImageAccessDeniedException, IOException {
    ImageReference ref;
    try {
      ref = ImageReference.parse(request.image());
    } catch (IllegalArgumentException e) {
      throw new ImageNotFoundException(
          request.image(), "not a valid image reference: " + e.getMessage());
    }
    NamespaceView ns = cluster.namespace();
    RegistrySource registry = new RegistrySource(ref, request);
    ResolvedImage image = resolve(ref, ns, registry, request.image());
    // Before any layer is touched: private content the node holds is the pod's only if its own
    // credentials can read it where it is held, document by document.
    ImageAccess.Session allowed = access.session(request.image(), registry, ns::privateTo);
    allowed.require(documents(image));
    boolean privateImage =
        importer.privateImages().isPrivate(image.reference().digest())
            || importer.privateImages().isPrivate(image.manifestDigest());
    List<LayerUse> uses = useLayers(image, ns, registry, request, privateImage);
    // Layers that arrived meanwhile (this publish's fetches, or another's) are checked as well.
    allowed.require(layerDocuments(image));
    if (ref.digest() == null) {
      // Every layer is reachable now: the tag resolves here from now on, as after a pull.
      importer.refs().record(ref, image.reference().digest());
    }
    LOG.info(
        "volume {}: image {} ({} layers) reads {}",
        request.volumeId(),
        image.reference(),
        uses.size(),
        uses.stream().map(u -> u.digest().hex().substring(0, 12) + "@" + u.readsFrom()).toList());
    return uses.stream().flatMap(u -> u.directories().stream()).toList();
  }

  /** Every document of the image the access check looks at, top-level manifest first. */
  private static List<ImageAccess.Document> documents(ResolvedImage image) {
    List<ImageAccess.Document> docs = new ArrayList<>();
    docs.add(new ImageAccess.Document(image.reference().digest(), ImageAccess.Kind.MANIFEST, -1));
    if (!image.manifestDigest().equals(image.reference().digest())) {
      docs.add(new ImageAccess.Document(image.manifestDigest(), ImageAccess.Kind.MANIFEST, -1));
    }
    docs.add(new ImageAccess.Document(image.configDigest(), ImageAccess.Kind.CONFIG, -1));
    docs.addAll(layerDocuments(image));
    return docs;
  }

  private static List<ImageAccess.Document> layerDocuments(ResolvedImage image) {
    return image.layers().stream()
        .map(l -> new ImageAccess.Document(l.digest(), ImageAccess.Kind.LAYER, l.size()))
        .toList();
  }

  // ---- resolution: store, then peers, then the registry ----------------------------------------

  /**
   * The image's manifest and config, from the first place that has them: this node's store (by
   * digest, or by the digest the registry says a tag points at now), else the member nodes' HTTP
   * exports (by digest only: a tag on a peer may be stale, so a tag is resolved by the registry,
   * after which the manifests and config it names come from peers when they hold them), else the
   * registry.
   */
  private ResolvedImage resolve(
      ImageReference ref, NamespaceView ns, RegistrySource registry, String asked)
      throws IOException, ImageNotFoundException, ImageAccessDeniedException {
    Optional<Digest> local =
        ref.digest() != null ? Optional.of(ref.digest()) : currentDigest(ref, registry, asked);
    if (local.isPresent()) {
      try {
        return importer.resolve(ref.withDigest(local.get()), List.of());
      } catch (FetchFailedException e) {
        LOG.debug("{} is not (wholly) in the store: {}", ref, e.getMessage());
      }
    }
    List<URI> members = new ArrayList<>();
    for (NamespaceView.PeerStore p : ns.peers()) {
      if (p.endpoints() != null && p.endpoints().http() != null) {
        members.add(URI.create(p.endpoints().http()));
      }
    }
    try {
      // A tag whose digest is known (the registry's answer, or the record when it cannot be
      // asked) is resolved by that digest, so peers may serve what it points at.
      return importer.resolve(
          local.map(ref::withDigest).orElse(ref), peers.sources(members, fallbacks(ns, registry)));
    } catch (FetchFailedException e) {
      throw translate(e, ref, asked, registry);
    }
  }

  /**
   * The digest a tag points at, asked of the registry (a manifest HEAD with the pod's credentials)
   * on every publish, so that a tag moved since this node recorded it gives the new image. Only
   * when the registry cannot be asked (unreachable, timed out, a server error, or an address the
   * node may not send requests to) is the digest this node recorded for the tag used, so that a
   * node cut off from its registry keeps serving what it holds. A tag the registry answers 404 for
   * was deleted: not found, whatever was recorded. Empty when the registry cannot be asked and
   * nothing was recorded: the caller's fetch from the registry then fails with the reason.
   */
  private Optional<Digest> currentDigest(ImageReference ref, RegistrySource registry, String asked)
      throws IOException, ImageNotFoundException, ImageAccessDeniedException {
    Optional<Digest> recorded = importer.refs().lookup(ref);
    Digest current;
    try {
      current = registry.registryRepository().currentDigest(ref.tag());
    } catch (RegistryException e) {
      switch (e.reason()) {
        case UNAVAILABLE, ADDRESS_REFUSED -> {
          if (recorded.isPresent()) {
            LOG.warn(
                "{}: the registry could not be asked for the tag's digest ({}); using {}, the"
                    + " digest this node recorded for it",
                ref,
                e.getMessage(),
                recorded.get());
          }
          return recorded;
        }
        case NOT_FOUND ->
            throw new ImageNotFoundException(
                asked,
                "the registry has no tag "
                    + ref.tag()
                    + recorded
                        .map(d -> " (any more; the digest this node recorded for it, " + d)
                        .map(m -> m + ", is not used)")
                        .orElse("")
                    + ": "
                    + e.getMessage(),
                e);
        case AUTHENTICATION_FAILED ->
            throw new ImageAccessDeniedException(
                asked, ref.registry(), registry.hasCredentialsFor(ref.registry()), e.getMessage());
        default -> throw e;
      }
    }
    if (recorded.isPresent() && !recorded.get().equals(current)) {
      LOG.info(
          "{}: the registry says the tag now points at {} (was {})", ref, current, recorded.get());
    } else {
      LOG.info("{}: the registry says the tag points at {}", ref, current);
    }
    return Optional.of(current);
  }

  // ---- layers: local, else remote per transport, else copy ------------------------------------

  /** Makes every layer available, in parallel (mounts and fetches wait on the network). */
  private List<LayerUse> useLayers(
      ResolvedImage image,
      NamespaceView ns,
      RegistrySource registry,
      AssemblyRequest request,
      boolean privateImage)
      throws IOException, ImageAccessDeniedException {
    List<Future<LayerUse>> futures = new ArrayList<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (PulledImage.Layer layer : image.layers()) {
        futures.add(pool.submit(() -> useLayer(layer, ns, registry, request, privateImage)));
      }
      List<LayerUse> uses = new ArrayList<>();
      for (Future<LayerUse> f : futures) {
        uses.add(await(f));
      }
      return uses;
    } catch (FetchFailedException e) {
      if (e.reason() == RegistryException.Reason.AUTHENTICATION_FAILED) {
        ImageReference ref = image.reference();
        throw new ImageAccessDeniedException(
            ref.toString(),
            ref.registry(),
            registry.hasCredentialsFor(ref.registry()),
            e.getMessage());
      }
      throw e;
    }
    // On failure, what the other layers acquired is recorded under the volume id: the node
    // service calls release(), which lets go of it.
  }

  private LayerUse useLayer(
      PulledImage.Layer layer,
      NamespaceView ns,
      RegistrySource registry,
      AssemblyRequest request,
      boolean privateImage)
      throws IOException {
    Optional<LayerUse> local = leaseLocal(layer, request.volumeId());
    if (local.isPresent()) {
      return local.get();
    }
    List<NamespaceView.PeerStore> holders = ns.holders(layer.digest());
    Transport transport = ns.transport();
    Set<String> memberMarks = ns.privateTo(layer.digest());
    if (transport == Transport.Nfs
        && (!memberMarks.isEmpty()
            || !importer.privateImages().layerRepositories(layer.digest()).isEmpty())) {
      // NFS lets in any client on a member's address as any uid: it carries public layers only,
      // and the exports leave private ones out (see docs/security.md).
      LOG.info("layer {} is private: copied over HTTP, not mounted over NFS", layer.digest());
    } else if (transport != Transport.Copy) {
      RemoteLayerMounts mounts = remote.get(transport);
      if (mounts == null) {
        LOG.warn(
            "transport {} is not set up on this node (no client key?): copying {}",
            transport,
            layer.digest());
      } else {
        Optional<LayerUse> mounted = mountRemote(layer, holders, transport, mounts, request);
        if (mounted.isPresent()) {
          // A remote mount names the volume's transport, over a copy of another of its layers.
          transports.merge(
              request.volumeId(),
              transport.name().toLowerCase(java.util.Locale.ROOT),
              (was, now) -> was.equals(COPIED) ? now : was);
          return mounted.get();
        }
      }
    }
    // Marked before the copy lands, so that the store never lists it unmarked. Known here only
    // through a private image (it was not held): private to the pod's repository, whose manifest
    // and config the pod was just let read; private wherever a member says it is.
    Set<String> marks = new java.util.TreeSet<>(memberMarks);
    if (privateImage) {
      marks.add(registry.repositoryName());
    }
    if (!marks.isEmpty()) {
      importer.privateImages().recordLayer(layer.digest(), marks);
    }
    LayerUse copied = copy(layer, holders, fallbacks(ns, registry), request.volumeId());
    transports.putIfAbsent(request.volumeId(), COPIED);
    return copied;
  }

  /** The node's own copy, leased for the volume; empty when the store does not hold it. */
  private Optional<LayerUse> leaseLocal(PulledImage.Layer layer, String volumeId)
      throws IOException {
    LayerLease lease;
    try {
      lease = store.lease(layer.digest());
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
    StoredLayer stored = lease.layer();
    if (layer.diffId() != null && !layer.diffId().equals(stored.diffId())) {
      lease.close();
      throw new IOException(
          "stored layer "
              + layer.digest()
              + " has diff ID "
              + stored.diffId()
              + " but the image config says "
              + layer.diffId());
    }
    leases.computeIfAbsent(volumeId, v -> new CopyOnWriteArrayList<>()).add(lease);
    return Optional.of(new LayerUse(layer.digest(), stored.directory(), nodeName));
  }

  /**
   * A shared mount of a holder's copy; the next holder when a mount fails. Empty when no holder
   * exports the layer over this transport or every mount failed: the caller copies it instead.
   */
  private Optional<LayerUse> mountRemote(
      PulledImage.Layer layer,
      List<NamespaceView.PeerStore> holders,
      Transport transport,
      RemoteLayerMounts mounts,
      AssemblyRequest request) {
    Digest digest = layer.digest();
    List<String> failures = new ArrayList<>();
    for (NamespaceView.PeerStore holder : holders) {
      Optional<Peer> peer = peerFor(transport, holder);
      if (peer.isEmpty()) {
        failures.add(holder.node() + ": no " + transport + " endpoint");
        continue;
      }
      OverlayMarkers markers;
      try {
        // Without them a remote copy would show deleted files again; no list, no mount.
        markers = markers(holder, layer);
      } catch (IOException | RuntimeException e) {
        LOG.warn(
            "{} did not list the overlay markers of {}: {}", holder.node(), digest, e.getMessage());
        failures.add(holder.node() + ": overlay markers: " + e.getMessage());
        continue;
      }
      try {
        if (!markers.specials().isEmpty()) {
          LOG.info(
              "volume {}: {} cannot carry {} device nodes, FIFOs, xattrs or setuid/setgid/sticky"
                  + " entries of layer {};"
                  + " they are restored in a local layer above it (hardlink groups and"
                  + " sub-second times are not carried: see docs/usage.md, Which transport)",
              request.volumeId(),
              transport,
              markers.specials().size(),
              digest);
        }
        Path dir = acquireWithRetry(mounts, peer.get(), digest, request.volumeId());
        try {
          return Optional.of(
              new LayerUse(digest, shims.around(digest, dir, markers), holder.node()));
        } catch (IOException | RuntimeException e) {
          mounts.release(holder.node(), digest, request.volumeId());
          throw e;
        }
      } catch (IOException | RuntimeException e) {
        LOG.warn("mounting {}'s copy of {} failed: {}", holder.node(), digest, e.getMessage());
        failures.add(holder.node() + ": " + e.getMessage());
      }
    }
    if (!holders.isEmpty()) {
      LOG.warn("no {} mount of {} worked ({}); copying it instead", transport, digest, failures);
    }
    return Optional.empty();
  }

  /**
   * A mount that fails at once (a connection reset while the peer's SSH server is busy with other
   * handshakes) usually works a moment later: try three times before falling back to the next
   * holder or to a copy.
   */
  private static Path acquireWithRetry(
      RemoteLayerMounts mounts, Peer peer, Digest digest, String volumeId) throws IOException {
    Exception last = null;
    for (int attempt = 1; attempt <= 3; attempt++) {
      try {
        return mounts.acquire(peer, digest, volumeId);
      } catch (IOException | RuntimeException e) {
        last = e;
        LOG.info(
            "mount of {}'s copy of {} failed (attempt {}): {}",
            peer.node(),
            digest,
            attempt,
            e.getMessage());
        try {
          Thread.sleep(200L * attempt); // back off briefly; the kubelet's call allows minutes
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    if (last instanceof IOException io) {
      throw io;
    }
    throw (RuntimeException) last;
  }

  /**
   * Fetches the layer into the store: holders' HTTP exports first, then the fallbacks (the
   * namespace's bucket, the registry).
   */
  private LayerUse copy(
      PulledImage.Layer layer,
      List<NamespaceView.PeerStore> holders,
      List<ContentSource> fallbacks,
      String volumeId)
      throws IOException {
    List<URI> from = new ArrayList<>();
    for (NamespaceView.PeerStore h : holders) {
      if (h.endpoints() != null && h.endpoints().http() != null) {
        from.add(URI.create(h.endpoints().http()));
      }
    }
    importer.fetchLayer(
        layer.digest(),
        layer.diffId(),
        layer.mediaType(),
        layer.size(),
        peers.sources(from, fallbacks));
    // The agent may drop an unassigned copy between fetch and lease; then fetch again once.
    Optional<LayerUse> leased = leaseLocal(layer, volumeId);
    if (leased.isEmpty()) {
      importer.fetchLayer(
          layer.digest(),
          layer.diffId(),
          layer.mediaType(),
          layer.size(),
          peers.sources(from, fallbacks));
      leased = leaseLocal(layer, volumeId);
    }
    return leased.orElseThrow(
        () -> new IOException("layer " + layer.digest() + " was deleted as soon as it arrived"));
  }

  /**
   * The holder's list of the layer's whiteouts and opaque dirs, from its HTTP export, after
   * checking that its copy has the diff ID the image config names (as for a local copy): an image
   * whose config does not name the layer's true diff ID cannot use it.
   */
  private OverlayMarkers markers(NamespaceView.PeerStore holder, PulledImage.Layer layer)
      throws IOException {
    Digest digest = layer.digest();
    if (holder.endpoints() == null || holder.endpoints().http() == null) {
      throw new IOException("no HTTP export to ask");
    }
    URI uri = URI.create(holder.endpoints().http() + HttpExportServer.MARKERS_PATH + digest);
    HttpResponse<byte[]> response;
    try {
      response =
          peers
              .http()
              .send(
                  HttpRequest.newBuilder(uri).timeout(peers.timeout()).GET().build(),
                  HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while asking " + uri);
    }
    if (response.statusCode() != 200) {
      throw new IOException(uri + " answered " + response.statusCode());
    }
    if (layer.diffId() != null) {
      Optional<String> diffId = response.headers().firstValue(HttpExportServer.DIFF_ID_HEADER);
      if (diffId.isEmpty() || !diffId.get().equals(layer.diffId().toString())) {
        throw new IOException(
            "its copy of "
                + digest
                + " has diff ID "
                + diffId.orElse("(not given)")
                + " but the image config says "
                + layer.diffId());
      }
    }
    return OverlayMarkers.parse(response.body());
  }

  /** How to reach a holder's export for a remote transport, if it reports one. */
  public static Optional<Peer> peerFor(Transport transport, NamespaceView.PeerStore holder) {
    StoreEndpoints e = holder.endpoints();
    if (e == null) {
      return Optional.empty();
    }
    try {
      return switch (transport) {
        case Sshfs -> {
          if (e.sftp() == null || e.sftpHostKey() == null) {
            yield Optional.empty();
          }
          URI uri = URI.create("ssh://" + e.sftp());
          if (uri.getHost() == null || uri.getPort() < 0) {
            yield Optional.empty();
          }
          String host = uri.getHost().replaceAll("^\\[|\\]$", "");
          yield Optional.of(new Peer(holder.node(), host, uri.getPort(), e.sftpHostKey()));
        }
        case Nfs -> {
          if (e.nfs() == null) {
            yield Optional.empty();
          }
          String nfs = e.nfs();
          String host =
              nfs.startsWith("[")
                  ? nfs.substring(1, nfs.indexOf(']'))
                  : nfs.substring(0, nfs.indexOf(':') < 0 ? nfs.length() : nfs.indexOf(':'));
          yield Optional.of(Peer.of(holder.node(), host, NFS_PORT));
        }
        case Copy -> Optional.empty();
      };
    } catch (IllegalArgumentException | StringIndexOutOfBoundsException bad) {
      LOG.warn(
          "{} reports an unusable {} endpoint: {}", holder.node(), transport, bad.getMessage());
      return Optional.empty();
    }
  }

  // ---- release, restart, and what volumes read ------------------------------------------------

  @Override
  public void release(String volumeId) throws IOException {
    transports.remove(volumeId);
    List<LayerLease> held = leases.remove(volumeId);
    if (held != null) {
      held.forEach(LayerLease::close);
    }
    IOException first = null;
    for (RemoteLayerMounts mounts : remote.values()) {
      for (Map.Entry<RemoteLayer, Set<String>> e : mounts.holders().entrySet()) {
        if (!e.getValue().contains(volumeId)) {
          continue;
        }
        try {
          mounts.release(e.getKey().node(), e.getKey().layer(), volumeId);
        } catch (IOException ex) {
          // Keep going: the other mounts are released, and the kubelet retries the unpublish.
          LOG.warn("releasing {} for {}: {}", e.getKey(), volumeId, ex.getMessage());
          if (first == null) {
            first = ex;
          }
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  /**
   * After a restart: leases again the local layers of the volumes still published, and lets go of
   * remote mounts that no published volume holds (the remote mounts themselves were adopted when
   * they were opened).
   *
   * @param published the volumes still mounted, from {@link NodeService#publishedVolumes()}
   */
  public void adopt(List<VolumeState> published) throws IOException {
    Set<String> live = new HashSet<>();
    for (VolumeState v : published) {
      live.add(v.volumeId());
      if (leases.containsKey(v.volumeId())) {
        continue;
      }
      for (VolumeLayer l : layersRead(v)) {
        if (nodeName.equals(l.readsFrom())) {
          try {
            leases
                .computeIfAbsent(v.volumeId(), k -> new CopyOnWriteArrayList<>())
                .add(store.lease(Digest.parse(l.digest())));
          } catch (NoSuchFileException e) {
            // Deleted while no process held a lease: the mounted overlay keeps its open files.
            LOG.warn("volume {} reads {}, which the store no longer holds", v.volumeId(), l);
          }
        }
      }
    }
    for (RemoteLayerMounts mounts : remote.values()) {
      mounts.retainOnly(live);
    }
  }

  /**
   * The layers a volume reads and whose copy: this node for a store directory, the peer for a
   * remote mount. Lower dirs that are neither are not layers and are left out.
   */
  public List<VolumeLayer> layersRead(VolumeState volume) {
    Path layers = store.root().resolve("layers").resolve("sha256");
    List<VolumeLayer> out = new ArrayList<>();
    for (Path dir : volume.layers()) {
      // A store layer's lower dir is layers/sha256/<hex>/diff.
      if (dir.startsWith(layers) && dir.getNameCount() == layers.getNameCount() + 2) {
        out.add(new VolumeLayer("sha256:" + dir.getName(layers.getNameCount()), nodeName));
        continue;
      }
      for (RemoteLayerMounts mounts : remote.values()) {
        Optional<RemoteLayer> r = mounts.layerAt(dir);
        if (r.isPresent()) {
          out.add(new VolumeLayer(r.get().layer().toString(), r.get().node()));
          break;
        }
      }
    }
    return out;
  }

  // ---- helpers --------------------------------------------------------------------------------

  private static <T> T await(Future<T> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while making layers available");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(e.getCause());
    }
  }

  /** Throws what a failed resolution means for the pod; returns {@code e} for other failures. */
  private static IOException translate(
      FetchFailedException e, ImageReference ref, String asked, RegistrySource registry)
      throws ImageNotFoundException, ImageAccessDeniedException, IOException {
    switch (e.reason()) {
      case NOT_FOUND -> throw new ImageNotFoundException(asked, e.getMessage(), e);
      case AUTHENTICATION_FAILED ->
          throw new ImageAccessDeniedException(
              asked, ref.registry(), registry.hasCredentialsFor(ref.registry()), e.getMessage());
      default -> {
        return e;
      }
    }
  }

  /**
   * The image's registry repository, with the pod's credentials read only when the registry is
   * actually asked: a volume served from the store or from peers never parses the volume's secret.
   */
  private final class RegistrySource implements ContentSource, ImageAccess.PodSource {
    private final ImageReference ref;
    private final AssemblyRequest request;
    // What this source opened or served in this publish. A blob's bytes are verified by the
    // importer, and the registry is the last source tried: bytes that fail fail the publish.
    private final Set<Digest> delivered = ConcurrentHashMap.newKeySet();
    private volatile RegistryClient.Repository repository;
    private volatile DockerConfig credentials;

    RegistrySource(ImageReference ref, AssemblyRequest request) {
      this.ref = ref;
      this.request = request;
    }

    @Override
    public String describe() {
      return "registry " + ref.name();
    }

    @Override
    public Optional<String> repository() {
      return Optional.of(ref.name());
    }

    @Override
    public String repositoryName() {
      return ref.name();
    }

    @Override
    public FetchedManifest fetchManifest(String reference) throws IOException {
      FetchedManifest m = registryRepository().fetchManifest(reference);
      delivered.add(m.digest());
      return m;
    }

    @Override
    public InputStream openBlob(Digest digest) throws IOException {
      InputStream in = registryRepository().openBlob(digest);
      delivered.add(digest);
      return in;
    }

    @Override
    public boolean delivered(Digest digest) {
      return delivered.contains(digest);
    }

    @Override
    public void read(ImageAccess.Document d) throws IOException {
      Digest actual;
      if (d.kind() == ImageAccess.Kind.MANIFEST) {
        actual = registryRepository().fetchManifest(d.digest().toString()).digest();
      } else {
        long limit = d.size() >= 0 ? d.size() : ImageConfig.MAX_BYTES;
        java.security.MessageDigest sha256;
        try {
          sha256 = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
          throw new IllegalStateException(e);
        }
        try (InputStream in = registryRepository().openBlob(d.digest())) {
          byte[] buf = new byte[64 * 1024];
          long total = 0;
          for (int n; (n = in.read(buf)) >= 0 && total <= limit; total += n) {
            sha256.update(buf, 0, n);
          }
        }
        actual = new Digest(java.util.HexFormat.of().formatHex(sha256.digest()));
      }
      if (!actual.equals(d.digest())) {
        throw new RegistryException(
            RegistryException.Reason.CORRUPT,
            ref.registry(),
            200,
            d.describe() + " was asked for but other bytes came (" + actual + ")");
      }
    }

    private RegistryClient.Repository registryRepository() throws IOException {
      RegistryClient.Repository r = repository;
      if (r == null) {
        synchronized (this) {
          if (repository == null) {
            repository = importer.registryClient().repository(ref, credentialsFor(ref.registry()));
          }
          r = repository;
        }
      }
      return r;
    }

    /** Whether the volume's Secret has credentials for {@code registry}. */
    boolean hasCredentialsFor(String registry) throws IOException {
      return credentialsFor(registry).credentialsFor(registry).isPresent();
    }

    /**
     * The pod's credentials: the volume's secrets, which the kubelet read from the Secret the
     * volume's {@code nodePublishSecretRef} names (a {@code .dockerconfigjson} key); none means
     * anonymous. The plugin reads no Secret itself, so the pod's imagePullSecrets do not count.
     */
    @Override
    public DockerConfig credentialsFor(String registry) {
      DockerConfig c = credentials;
      if (c == null) {
        c =
            request.secrets().containsKey(DockerConfig.SECRET_KEY)
                ? DockerConfig.fromSecret(request.secrets())
                : DockerConfig.EMPTY;
        credentials = c;
      }
      return c;
    }
  }
}
