package io.layerns.csi.transport.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.layerns.csi.store.Digest;
import io.layerns.csi.transport.remote.RemoteLayerMounts.DeadMount;
import io.layerns.csi.transport.remote.RemoteLayerMounts.RemoteLayer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RemoteLayerMountsTest {

  private static final Digest A = Digest.of("a".getBytes());
  private static final Digest B = Digest.of("b".getBytes());
  private static final String KEY = "ecdsa-sha2-nistp256 AAAAE2VjZHNh";
  private static final Peer NODE_2 = new Peer("node-2", "10.0.0.2", 2222, KEY);
  private static final Peer NODE_3 = new Peer("node-3", "10.0.0.3", 2222, KEY);

  @TempDir Path tmp;

  private Path state;
  private SshfsTransport sshfs;
  private RecordingRemoteMounter mounter;
  private RemoteLayerMounts mounts;

  @BeforeEach
  void setUp() throws IOException {
    state = tmp.resolve("state");
    sshfs = new SshfsTransport("layerns", tmp.resolve("id"), tmp.resolve("known_hosts"));
    mounter = new RecordingRemoteMounter();
    mounts = RemoteLayerMounts.open(state, sshfs, mounter);
    state = state.toRealPath();
  }

  @Test
  void volumesUsingTheSameRemoteLayerShareOneMountAndTheLastReleaseUnmounts() throws Exception {
    Path first = mounts.acquire(NODE_2, A, "vol-1");
    Path second = mounts.acquire(NODE_2, A, "vol-2");

    assertThat(second).isEqualTo(first).isDirectory();
    assertThat(first).isEqualTo(state.resolve("mnt/sshfs/node-2/" + A.hex()));
    assertThat(mounter.calls())
        .containsExactly("mount layerns@10.0.0.2:/sha256/" + A.hex() + "/diff " + first);
    assertThat(mounts.holders())
        .isEqualTo(Map.of(new RemoteLayer("node-2", A), Set.of("vol-1", "vol-2")));

    mounts.release("node-2", A, "vol-1");
    assertThat(mounter.mountPoints()).containsExactly(first.toString());

    mounts.release("node-2", A, "vol-2");
    assertThat(mounter.mountPoints()).isEmpty();
    assertThat(mounter.calls()).last().isEqualTo("unmount " + first);
    assertThat(first).doesNotExist();
    assertThat(state.resolve("refs/sshfs/node-2/" + A.hex())).doesNotExist();
    assertThat(mounts.holders()).isEmpty();
  }

  @Test
  void eachPeerAndLayerHasItsOwnMount() throws Exception {
    Path a2 = mounts.acquire(NODE_2, A, "vol-1");
    Path a3 = mounts.acquire(NODE_3, A, "vol-1");
    Path b2 = mounts.acquire(NODE_2, B, "vol-1");

    assertThat(List.of(a2, a3, b2)).doesNotHaveDuplicates();
    assertThat(mounter.mountPoints())
        .containsExactlyInAnyOrder(a2.toString(), a3.toString(), b2.toString());
    assertThat(tmp.resolve("known_hosts/node-3")).hasContent("[10.0.0.3]:2222 " + KEY);
  }

  @Test
  void acquiringAndReleasingAgainForTheSameHolderCountsOnce() throws Exception {
    Path p = mounts.acquire(NODE_2, A, "vol-1");
    mounts.acquire(NODE_2, A, "vol-1");
    mounts.acquire(NODE_2, A, "vol-2");

    mounts.release("node-2", A, "vol-1");
    mounts.release("node-2", A, "vol-1");
    assertThat(mounter.mountPoints()).containsExactly(p.toString());

    mounts.release("node-2", A, "vol-2");
    mounts.release("node-2", A, "vol-2");
    assertThat(mounter.mountPoints()).isEmpty();
    assertThat(mounter.calls()).filteredOn(c -> c.startsWith("mount")).hasSize(1);
    assertThat(mounter.calls()).filteredOn(c -> c.startsWith("unmount")).hasSize(1);
  }

  @Test
  void aFailedMountLeavesNoHolderAndNoFolder() throws Exception {
    mounter.failNextMount(new IOException("read: Connection reset by peer"));

    assertThatThrownBy(() -> mounts.acquire(NODE_2, A, "vol-1"))
        .hasMessageContaining("Connection reset by peer");

    assertThat(mounts.holders()).isEmpty();
    assertThat(mounts.mountPoint("node-2", A)).doesNotExist();
    assertThat(RemoteLayerMounts.open(state, sshfs, mounter).holders()).isEmpty();
    // The next try mounts again.
    assertThat(mounts.acquire(NODE_2, A, "vol-1")).isEqualTo(mounts.mountPoint("node-2", A));
    assertThat(mounter.mountPoints()).hasSize(1);
  }

  @Test
  void aFailedMountKeepsTheOtherHoldersOfAnUnmountedLayer() throws Exception {
    mounts.acquire(NODE_2, A, "vol-1");
    mounter.unmount(mounts.mountPoint("node-2", A)); // gone behind our back, e.g. a reboot
    mounter.failNextMount(new IOException("Connection refused"));

    assertThatThrownBy(() -> mounts.acquire(NODE_2, A, "vol-2")).hasMessageContaining("refused");

    assertThat(mounts.holders()).containsEntry(new RemoteLayer("node-2", A), Set.of("vol-1"));
  }

  @Test
  void aRestartedAgentAdoptsHeldMountsAndUnmountsOrphans() throws Exception {
    Path kept = mounts.acquire(NODE_2, A, "vol-1");
    mounts.acquire(NODE_2, A, "vol-2");
    // A mount of ours that nobody holds (the agent died between unmounting and forgetting), and a
    // foreign mount under the state folder that is not ours to touch.
    Path orphan = state.resolve("mnt/sshfs/node-3/" + B.hex());
    mounter.addExisting("fuse.sshfs", "layerns@10.0.0.3:/sha256/" + B.hex() + "/diff", orphan);
    Path foreign = state.resolve("mnt/sshfs/node-3/not-a-digest");
    mounter.addExisting("fuse.sshfs", "someone@else:/", foreign);
    int callsBefore = mounter.calls().size();

    RemoteLayerMounts restarted = RemoteLayerMounts.open(state, sshfs, mounter);

    assertThat(restarted.holders())
        .isEqualTo(Map.of(new RemoteLayer("node-2", A), Set.of("vol-1", "vol-2")));
    assertThat(mounter.calls().subList(callsBefore, mounter.calls().size()))
        .containsExactly("unmount " + orphan);
    assertThat(mounter.mountPoints()).containsExactly(kept.toString(), foreign.toString());

    // The adopted mount is shared and counted as before.
    assertThat(restarted.acquire(NODE_2, A, "vol-3")).isEqualTo(kept);
    restarted.release("node-2", A, "vol-1");
    restarted.release("node-2", A, "vol-2");
    assertThat(mounter.mountPoints()).contains(kept.toString());
    restarted.release("node-2", A, "vol-3");
    assertThat(mounter.mountPoints()).containsExactly(foreign.toString());
  }

  @Test
  void retainOnlyDropsHoldersThatAreNoLongerPublished() throws Exception {
    Path a = mounts.acquire(NODE_2, A, "vol-1");
    Path b = mounts.acquire(NODE_3, B, "vol-2");
    mounts.acquire(NODE_3, B, "vol-3");

    mounts.retainOnly(Set.of("vol-3"));

    assertThat(mounts.holders()).isEqualTo(Map.of(new RemoteLayer("node-3", B), Set.of("vol-3")));
    assertThat(mounter.mountPoints()).containsExactly(b.toString());
    assertThat(a).doesNotExist();
  }

  @Test
  void healthListsMountsThatDoNotAnswerAndHeldLayersThatAreNotMounted() throws Exception {
    Path a = mounts.acquire(NODE_2, A, "vol-1");
    Path b = mounts.acquire(NODE_3, B, "vol-1");
    Path c = mounts.acquire(NODE_3, A, "vol-1");
    assertThat(mounts.health()).isEmpty();

    mounter.breakMount(a, "Transport endpoint is not connected");
    mounter.unmount(b);

    assertThat(mounts.health())
        .containsExactlyInAnyOrder(
            new DeadMount(new RemoteLayer("node-2", A), a, "Transport endpoint is not connected"),
            new DeadMount(new RemoteLayer("node-3", B), b, "not mounted"));
    assertThat(mounter.mountPoints()).contains(c.toString());
  }

  @Test
  void aMountWhoseDaemonIsGoneIsMountedAgainInPlaceForItsHolders() throws Exception {
    Path mp = mounts.acquire(NODE_2, A, "vol-1");
    mounts.acquire(NODE_2, A, "vol-2");
    mounter.breakMount(mp, RemoteLayerMounts.DAEMON_GONE);

    assertThat(mounts.remountDead(NODE_2, A)).contains(Set.of("vol-1", "vol-2"));

    List<String> calls = mounter.calls();
    assertThat(calls.get(calls.size() - 2)).isEqualTo("detach " + mp);
    assertThat(calls.getLast()).startsWith("mount ").endsWith(mp.toString());
    assertThat(mounts.health()).isEmpty();
  }

  @Test
  void aMountThatAnswersOrWhoseDaemonLivesOrThatNobodyHoldsIsNotMountedAgain() throws Exception {
    Path mp = mounts.acquire(NODE_2, A, "vol-1");
    assertThat(mounts.remountDead(NODE_2, A)).isEmpty();
    // The peer is away: sshfs lives and reconnects by itself once it is back.
    mounter.breakMount(mp, "Input/output error");
    assertThat(mounts.remountDead(NODE_2, A)).isEmpty();
    assertThat(mounts.remountDead(NODE_3, B)).isEmpty();
    assertThat(mounter.calls()).noneMatch(c -> c.startsWith("detach"));
    assertThat(mounter.calls()).filteredOn(c -> c.startsWith("mount ")).hasSize(1);
  }

  @Test
  void aHeldLayerThatIsNotMountedIsMountedAgain() throws Exception {
    Path mp = mounts.acquire(NODE_2, A, "vol-1");
    mounter.unmount(mp);

    assertThat(mounts.remountDead(NODE_2, A)).contains(Set.of("vol-1"));
    assertThat(mounter.mountPoints()).contains(mp.toString());
  }

  @Test
  void aNewVolumeDoesNotReuseADeadMountButGetsAFreshOne() throws Exception {
    Path mp = mounts.acquire(NODE_2, A, "vol-1");
    mounter.breakMount(mp, "Input/output error"); // the peer restarted; sshfs did not reconnect

    Path again = mounts.acquire(NODE_2, A, "vol-2");

    assertThat(again).isEqualTo(mp);
    List<String> calls = mounter.calls();
    assertThat(calls.get(calls.size() - 2)).isEqualTo("detach " + mp);
    assertThat(calls.getLast()).startsWith("mount ").endsWith(mp.toString());
    assertThat(mounts.health()).isEmpty();
    assertThat(mounts.holders().get(new RemoteLayer("node-2", A)))
        .containsExactlyInAnyOrder("vol-1", "vol-2");
  }

  @Test
  void nfsMountsLiveApartFromSshfsMounts() throws Exception {
    RemoteLayerMounts nfs = RemoteLayerMounts.open(state, new Nfs4Transport("/layerns"), mounter);
    Path viaSsh = mounts.acquire(NODE_2, A, "vol-1");

    Path viaNfs = nfs.acquire(Peer.of("node-2", "10.0.0.2", 20490), A, "vol-1");

    assertThat(viaNfs).isEqualTo(state.resolve("mnt/nfs/node-2/" + A.hex())).isNotEqualTo(viaSsh);
    assertThat(mounter.calls())
        .last()
        .isEqualTo("mount 10.0.0.2:/layerns/sha256/" + A.hex() + "/diff " + viaNfs);
    // Neither adopts nor unmounts the other's mounts on restart.
    assertThat(RemoteLayerMounts.open(state, sshfs, mounter).holders()).hasSize(1);
    assertThat(mounter.mountPoints()).containsExactly(viaSsh.toString(), viaNfs.toString());
  }

  @Test
  void holderIdsThatCouldBreakTheHoldersFileAreRefused() {
    assertThatThrownBy(() -> mounts.acquire(NODE_2, A, "vol\nvol-2"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> mounts.acquire(NODE_2, A, ""))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(mounter.calls()).isEmpty();
  }
}
