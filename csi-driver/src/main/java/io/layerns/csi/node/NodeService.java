package io.layerns.csi.node;

import csi.v1.Csi.NodeGetCapabilitiesRequest;
import csi.v1.Csi.NodeGetCapabilitiesResponse;
import csi.v1.Csi.NodeGetInfoRequest;
import csi.v1.Csi.NodeGetInfoResponse;
import csi.v1.Csi.NodePublishVolumeRequest;
import csi.v1.Csi.NodePublishVolumeResponse;
import csi.v1.Csi.NodeUnpublishVolumeRequest;
import csi.v1.Csi.NodeUnpublishVolumeResponse;
import csi.v1.Csi.VolumeCapability.AccessMode;
import csi.v1.NodeGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.layerns.csi.metrics.NodeMetrics;
import io.layerns.csi.mount.MountTable;
import io.layerns.csi.mount.Mounter;
import io.layerns.csi.registry.DockerConfig;
import io.layerns.csi.registry.ImageReference;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CSI Node service: publishes an image as an overlay at the kubelet's target path, for CSI
 * ephemeral inline volumes only.
 *
 * <p>Staging, volume stats and expansion are not offered (the base class answers UNIMPLEMENTED),
 * and no capability is reported: ephemeral volumes are never staged, and an image's size is not the
 * pod's to manage.
 */
public final class NodeService extends NodeGrpc.NodeImplBase {

  private static final Logger LOG = LoggerFactory.getLogger(NodeService.class);

  /** Set by the kubelet on every CSI ephemeral inline volume. */
  public static final String EPHEMERAL_KEY = "csi.storage.k8s.io/ephemeral";

  /** The volume attribute naming the image to show. */
  public static final String IMAGE_KEY = "image";

  /** The prefix of the volume context keys the kubelet sets. */
  private static final String KUBELET_KEY_PREFIX = "csi.storage.k8s.io/";

  /** The CSI spec's bound on identifiers; the kubelet's ephemeral volume IDs are 68 bytes. */
  private static final int MAX_VOLUME_ID_BYTES = 128;

  /** PATH_MAX. */
  private static final int MAX_PATH_BYTES = 4096;

  /** A reference is at most a 255-character name, a 128-character tag and a digest. */
  private static final int MAX_IMAGE_CHARS = 512;

  /** Bound on stacked mounts at one target that an unpublish takes down. */
  private static final int MAX_STACKED_MOUNTS = 8;

  private final String nodeId;
  private final VolumeAssembler assembler;
  private final Mounter mounter;
  private final VolumeStateStore states;
  private final VolumeLocks locks = new VolumeLocks();
  private volatile Runnable volumesChanged = () -> {};
  private volatile NodeMetrics metrics = NodeMetrics.NONE;

  public NodeService(
      String nodeId, VolumeAssembler assembler, Mounter mounter, VolumeStateStore states) {
    if (nodeId == null || nodeId.isBlank()) {
      throw new IllegalArgumentException("node id (the node name) is required");
    }
    this.nodeId = nodeId;
    this.assembler = assembler;
    this.mounter = mounter;
    this.states = states;
  }

  /**
   * Runs {@code listener} after each publish that mounted and each unpublish that unmounted, so the
   * node agent reports the volumes (and the copies they read) at once rather than on its next pass:
   * until the operator sees a volume, it may let the copy the volume reads be dropped.
   */
  public void onVolumesChanged(Runnable listener) {
    this.volumesChanged = listener;
  }

  /** Where publishes, unpublishes and refused requests are counted. */
  public void recordTo(NodeMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public void nodeGetInfo(NodeGetInfoRequest req, StreamObserver<NodeGetInfoResponse> out) {
    // max_volumes_per_node 0: no limit, overlays use no attach slots.
    respond(out, () -> NodeGetInfoResponse.newBuilder().setNodeId(nodeId).build());
  }

  @Override
  public void nodeGetCapabilities(
      NodeGetCapabilitiesRequest req, StreamObserver<NodeGetCapabilitiesResponse> out) {
    respond(out, () -> NodeGetCapabilitiesResponse.getDefaultInstance());
  }

  @Override
  public void nodePublishVolume(
      NodePublishVolumeRequest req, StreamObserver<NodePublishVolumeResponse> out) {
    long start = System.nanoTime();
    String[] transport = {"none"};
    respond(
        out,
        () -> publish(req, transport),
        code -> metrics.published(transport[0], outcome(code), System.nanoTime() - start));
  }

  @Override
  public void nodeUnpublishVolume(
      NodeUnpublishVolumeRequest req, StreamObserver<NodeUnpublishVolumeResponse> out) {
    long start = System.nanoTime();
    respond(
        out,
        () -> unpublish(req),
        code -> metrics.unpublished(outcome(code), System.nanoTime() - start));
  }

  /** A call's outcome as a metric label; refusals of the request are also counted by reason. */
  private String outcome(Status.Code code) {
    switch (code) {
      case INVALID_ARGUMENT -> metrics.refused(NodeMetrics.Refusal.INVALID_REQUEST);
      case PERMISSION_DENIED -> metrics.refused(NodeMetrics.Refusal.ACCESS_DENIED);
      default -> {}
    }
    return code.name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * The volumes published before this instance started that are still mounted, rebuilt from the
   * state files and mountinfo. State whose target is not mounted is left for the kubelet's retry of
   * publish or unpublish, which cleans it up.
   */
  public List<VolumeState> publishedVolumes() throws IOException {
    List<VolumeState> mounted = new ArrayList<>();
    for (VolumeState s : states.loadAll()) {
      if (mounter.isMountPoint(s.targetPath())) {
        mounted.add(s);
      } else {
        LOG.info(
            "volume {} is not mounted at {}: its state waits for the kubelet's retry",
            s.volumeId(),
            s.targetPath());
      }
    }
    return mounted;
  }

  /**
   * @param transport set to how the layers were reached (see {@link VolumeAssembler#transport}),
   *     for the metrics
   */
  private NodePublishVolumeResponse publish(NodePublishVolumeRequest req, String[] transport)
      throws IOException {
    String volumeId = req.getVolumeId();
    require(!volumeId.isEmpty(), "volume ID missing in request");
    checkVolumeId(volumeId);
    require(!req.getTargetPath().isEmpty(), "target path missing in request");
    checkTargetPath(req.getTargetPath());
    require(req.hasVolumeCapability(), "volume capability missing in request");
    require(
        !req.getVolumeCapability().hasBlock(),
        "block access type is not supported: a layerns volume is a file system, request a mount"
            + " volume");
    Map<String, String> context = req.getVolumeContextMap();
    require(
        "true".equals(context.get(EPHEMERAL_KEY)),
        "volume "
            + volumeId
            + " is not a CSI ephemeral inline volume (volume context "
            + EPHEMERAL_KEY
            + "=true is missing): csi.layerns.io serves only inline volumes declared in a pod"
            + " spec, not PersistentVolumes");
    checkAttributeNames(context);
    String image = context.getOrDefault(IMAGE_KEY, "");
    require(
        !image.isEmpty(),
        "volume attribute \"" + IMAGE_KEY + "\" missing: set it to an image reference");
    checkImage(image);
    checkPullSecret(req.getSecretsMap());
    Path target = Path.of(req.getTargetPath());
    boolean readOnly = req.getReadonly() || isReaderOnly(req.getVolumeCapability().getAccessMode());

    try (VolumeLocks.Held lock = lock(volumeId)) {
      Optional<VolumeState> existing = states.load(volumeId);
      if (existing.isPresent()) {
        VolumeState s = existing.get();
        boolean mounted = mounter.isMountPoint(s.targetPath());
        if (mounted && !s.targetPath().equals(target)) {
          throw Status.FAILED_PRECONDITION
              .withDescription("volume " + volumeId + " is already published at " + s.targetPath())
              .asRuntimeException();
        }
        if (mounted) {
          if (s.image().equals(image) && s.readOnly() == readOnly) {
            transport[0] = assembler.transport(volumeId);
            LOG.info("volume {} already published at {}", volumeId, target);
            return NodePublishVolumeResponse.getDefaultInstance();
          }
          throw Status.ALREADY_EXISTS
              .withDescription(
                  "volume %s is already published at %s with image %s, readOnly=%s"
                      .formatted(volumeId, target, s.image(), s.readOnly()))
              .asRuntimeException();
        }
        // A publish that stopped before its mount: start it over from a clean slate.
        LOG.info("volume {}: discarding state of an unfinished publish", volumeId);
        discard(s.volumeId());
      } else if (mounter.isMountPoint(target)) {
        throw Status.FAILED_PRECONDITION
            .withDescription(
                "target path "
                    + target
                    + " is already a mount point not made for volume "
                    + volumeId)
            .asRuntimeException();
      }

      PodInfo pod = PodInfo.fromVolumeContext(context);
      AssemblyRequest request =
          new AssemblyRequest(volumeId, image, pod, readOnly, req.getSecretsMap());
      List<Path> layers;
      try {
        layers = assembler.assemble(request);
        transport[0] = assembler.transport(volumeId);
      } catch (ImageNotFoundException e) {
        transport[0] = assembler.transport(volumeId);
        assembler.release(volumeId);
        LOG.info("volume {}: {}", volumeId, e.getMessage());
        throw Status.NOT_FOUND
            .withDescription(FailedMountMessage.notFound(image, e).orElse(e.getMessage()))
            .asRuntimeException();
      } catch (ImageAccessDeniedException e) {
        transport[0] = assembler.transport(volumeId);
        assembler.release(volumeId);
        throw Status.PERMISSION_DENIED.withDescription(e.getMessage()).asRuntimeException();
      } catch (IOException | RuntimeException e) {
        transport[0] = assembler.transport(volumeId);
        assembler.release(volumeId);
        Optional<String> said = FailedMountMessage.of(image, nodeId, e);
        if (said.isPresent()) {
          // The whole story (each source and its error) stays in the log; the pod gets the gist.
          // INTERNAL as before: a final error to the kubelet, which retries it all the same.
          LOG.warn("volume {}: assembling image {} failed: {}", volumeId, image, e.getMessage());
          throw Status.INTERNAL.withDescription(said.get()).withCause(e).asRuntimeException();
        }
        throw Status.INTERNAL
            .withDescription("assembling image " + image + " failed: " + e.getMessage())
            .withCause(e)
            .asRuntimeException();
      }

      VolumeState state =
          readOnly
              ? new VolumeState(volumeId, target, image, true, layers, null, null, pod.label())
              : new VolumeState(
                  volumeId,
                  target,
                  image,
                  false,
                  layers,
                  states.upperDir(volumeId),
                  states.workDir(volumeId),
                  pod.label());
      boolean createdTarget = !Files.exists(target, LinkOption.NOFOLLOW_LINKS);
      try {
        // State first: after a crash between here and the mount, unpublish still finds it.
        states.save(state);
        Files.createDirectories(target);
        if (readOnly) {
          mounter.mountReadOnlyOverlay(layers, target);
        } else {
          Files.createDirectories(state.upperDir());
          Files.createDirectories(state.workDir());
          mounter.mountWritableOverlay(layers, state.upperDir(), state.workDir(), target);
        }
      } catch (IOException | RuntimeException e) {
        discard(volumeId);
        if (createdTarget) {
          Files.deleteIfExists(target);
        }
        throw Status.INTERNAL
            .withDescription(
                "mounting volume " + volumeId + " at " + target + " failed: " + e.getMessage())
            .withCause(e)
            .asRuntimeException();
      }
      LOG.info(
          "volume {} published at {}: image {}, {} layers, {}",
          volumeId,
          target,
          image,
          layers.size(),
          readOnly ? "read-only" : "writable");
      volumesChanged.run();
      return NodePublishVolumeResponse.getDefaultInstance();
    }
  }

  private NodeUnpublishVolumeResponse unpublish(NodeUnpublishVolumeRequest req) throws IOException {
    String volumeId = req.getVolumeId();
    require(!volumeId.isEmpty(), "volume ID missing in request");
    checkVolumeId(volumeId);
    require(!req.getTargetPath().isEmpty(), "target path missing in request");
    checkTargetPath(req.getTargetPath());
    Path target = Path.of(req.getTargetPath());

    try (VolumeLocks.Held lock = lock(volumeId)) {
      Optional<VolumeState> state = states.load(volumeId);
      if (state.isPresent() && !state.get().targetPath().equals(target)) {
        // The volume lives elsewhere; nothing of it is at this path, so the call is already done.
        LOG.warn(
            "unpublish of volume {} at {}: it is published at {}, leaving both alone",
            volumeId,
            target,
            state.get().targetPath());
        return NodeUnpublishVolumeResponse.getDefaultInstance();
      }
      // The kubelet owns the target path; whatever is mounted there for this volume goes, even
      // without a state file (the same rule as csi-driver-nfs).
      for (int i = 0; mounter.isMountPoint(target); i++) {
        if (i == MAX_STACKED_MOUNTS) {
          throw new IOException("more than " + MAX_STACKED_MOUNTS + " mounts stacked at " + target);
        }
        mounter.unmount(target);
      }
      try {
        // The spec: the plugin deletes the directory it created at the target path.
        Files.deleteIfExists(target);
      } catch (DirectoryNotEmptyException e) {
        throw Status.FAILED_PRECONDITION
            .withDescription(
                "target path "
                    + target
                    + " is not a mount point but holds files; not deleting them")
            .asRuntimeException();
      }
      discard(volumeId);
      LOG.info("volume {} unpublished from {}", volumeId, target);
      volumesChanged.run();
      return NodeUnpublishVolumeResponse.getDefaultInstance();
    }
  }

  /** What {@link #remount} did for a volume. */
  public enum Remount {
    /** A fresh overlay is mounted over the volume's target. */
    REMOUNTED,
    /** Not remounted: its private upper layer belongs to the overlay already mounted. */
    WRITABLE,
    /** Not remounted: the volume is not published (any more), or a call on it is under way. */
    NOT_PUBLISHED,
    /** Not remounted: its target holds as many stacked overlays as an unpublish takes down. */
    TOO_MANY_STACKED
  }

  /**
   * Mounts a read-only volume's overlay again, over the one at its target, after a remote layer it
   * reads was mounted again: an overlay keeps the layer mounts it was made on, so the one at the
   * target still reads the dead mount. The new overlay reaches the containers that mount the volume
   * with HostToContainer propagation; the old one stays beneath until the unpublish.
   */
  public Remount remount(String volumeId) throws IOException {
    VolumeLocks.Held lock = locks.tryAcquire(volumeId);
    if (lock == null) {
      return Remount.NOT_PUBLISHED;
    }
    try (lock) {
      Optional<VolumeState> state = states.load(volumeId);
      if (state.isEmpty() || !mounter.isMountPoint(state.get().targetPath())) {
        return Remount.NOT_PUBLISHED;
      }
      VolumeState s = state.get();
      if (!s.readOnly()) {
        return Remount.WRITABLE;
      }
      String target = s.targetPath().toString();
      long stacked = MountTable.read().stream().filter(e -> e.mountPoint().equals(target)).count();
      if (stacked >= MAX_STACKED_MOUNTS) {
        return Remount.TOO_MANY_STACKED;
      }
      mounter.mountReadOnlyOverlay(s.layers(), s.targetPath());
      LOG.info("volume {} mounted again at {} over its old overlay", volumeId, target);
      return Remount.REMOUNTED;
    }
  }

  /** Releases the layers and deletes the state and private upper layer of an unmounted volume. */
  private void discard(String volumeId) throws IOException {
    assembler.release(volumeId);
    states.delete(volumeId);
  }

  private VolumeLocks.Held lock(String volumeId) {
    VolumeLocks.Held held = locks.tryAcquire(volumeId);
    if (held == null) {
      throw Status.ABORTED
          .withDescription("an operation on volume " + volumeId + " is already in progress")
          .asRuntimeException();
    }
    return held;
  }

  private static boolean isReaderOnly(AccessMode mode) {
    return mode.getMode() == AccessMode.Mode.SINGLE_NODE_READER_ONLY
        || mode.getMode() == AccessMode.Mode.MULTI_NODE_READER_ONLY;
  }

  // ---- request checks: every field is untrusted; errors quote it short and on one line --------

  /**
   * The volume ID names the volume's state directory only through its hash (see {@link
   * VolumeStateStore}), so any characters are safe there; control characters and great lengths are
   * still refused, since the ID goes into logs and messages. The kubelet's IDs are 68 characters.
   */
  private static void checkVolumeId(String volumeId) {
    int bytes = volumeId.getBytes(StandardCharsets.UTF_8).length;
    require(
        bytes <= MAX_VOLUME_ID_BYTES,
        "volume ID is "
            + bytes
            + " bytes, more than "
            + MAX_VOLUME_ID_BYTES
            + ": "
            + quote(volumeId));
    require(
        !hasControlCharacter(volumeId),
        "volume ID " + quote(volumeId) + " contains a control character");
  }

  /** The kubelet sends an absolute, normalized path under its pods directory. */
  private static void checkTargetPath(String path) {
    require(
        path.length() <= MAX_PATH_BYTES,
        "target path is " + path.length() + " characters, more than " + MAX_PATH_BYTES);
    require(
        !hasControlCharacter(path), "target path " + quote(path) + " contains a control character");
    Path target = Path.of(path);
    require(target.isAbsolute(), "target path " + quote(path) + " is not absolute");
    require(
        target.normalize().toString().equals(path),
        "target path " + quote(path) + " is not normal: it has '.', '..' or repeated '/'");
  }

  /**
   * Only {@code image} is the user's to set; the kubelet adds {@code csi.storage.k8s.io/} keys. A
   * misspelt attribute is refused rather than silently ignored.
   */
  private static void checkAttributeNames(Map<String, String> context) {
    for (String key : context.keySet()) {
      require(
          key.equals(IMAGE_KEY) || key.startsWith(KUBELET_KEY_PREFIX),
          "unknown volume attribute "
              + quote(key)
              + ": csi.layerns.io takes only \""
              + IMAGE_KEY
              + "\" (an image reference)");
    }
  }

  /**
   * The volume's secrets (the Secret its {@code nodePublishSecretRef} names, which the kubelet
   * reads) are the pod's registry credentials: a Secret of another kind is refused by name here
   * rather than treated as no credentials.
   */
  private static void checkPullSecret(Map<String, String> secrets) {
    if (secrets.isEmpty()) {
      return;
    }
    try {
      DockerConfig.fromSecret(secrets);
    } catch (IllegalArgumentException e) {
      throw Status.INVALID_ARGUMENT
          .withDescription(
              "the volume's nodePublishSecretRef Secret is not usable as registry credentials: "
                  + e.getMessage()
                  + "; name a Secret of type kubernetes.io/dockerconfigjson")
          .asRuntimeException();
    }
  }

  private static void checkImage(String image) {
    String field = "volume attribute \"" + IMAGE_KEY + "\"";
    require(
        image.length() <= MAX_IMAGE_CHARS,
        field + " is " + image.length() + " characters, more than " + MAX_IMAGE_CHARS);
    require(
        image.chars().noneMatch(c -> Character.isWhitespace(c) || Character.isISOControl(c)),
        field + " " + quote(image) + " contains whitespace or a control character");
    try {
      ImageReference.parse(image);
    } catch (IllegalArgumentException e) {
      throw Status.INVALID_ARGUMENT
          .withDescription(field + " is not a valid image reference: " + e.getMessage())
          .asRuntimeException();
    }
  }

  private static boolean hasControlCharacter(String s) {
    return s.chars().anyMatch(Character::isISOControl);
  }

  /** A value for a message: quoted, control characters escaped, cut after 80 characters. */
  static String quote(String value) {
    StringBuilder b = new StringBuilder("\"");
    String shown = value.length() <= 80 ? value : value.substring(0, 80);
    for (char c : shown.toCharArray()) {
      if (Character.isISOControl(c)) {
        b.append(String.format("\\x%02x", (int) c));
      } else {
        b.append(c);
      }
    }
    b.append('"');
    if (shown.length() < value.length()) {
      b.append(" (cut, ").append(value.length()).append(" characters)");
    }
    return b.toString();
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
  }

  private static <T> void respond(StreamObserver<T> out, Callable<T> call) {
    respond(out, call, code -> {});
  }

  /**
   * Answers the call with what {@code call} returns or throws, after telling {@code done} the
   * status code (so the metrics have counted a call once its caller has the answer).
   */
  private static <T> void respond(
      StreamObserver<T> out, Callable<T> call, java.util.function.Consumer<Status.Code> done) {
    T response;
    try {
      response = call.call();
    } catch (StatusRuntimeException e) {
      done.accept(e.getStatus().getCode());
      out.onError(e);
      return;
    } catch (Exception e) {
      LOG.error("unexpected failure", e);
      done.accept(Status.Code.INTERNAL);
      out.onError(Status.INTERNAL.withDescription(e.toString()).withCause(e).asRuntimeException());
      return;
    }
    done.accept(Status.Code.OK);
    out.onNext(response);
    out.onCompleted();
  }
}
