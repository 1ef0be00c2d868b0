package io.layerns.api.v1alpha1;

/** How a node uses a layer that only its peers hold. */
public enum Transport {
  /** Kernel NFSv4 mount of a peer's nfs-ganesha export. */
  Nfs,
  /** FUSE sshfs mount of a peer's read-only SFTP export. */
  Sshfs,
  /** Fetch the layer from a peer over HTTP, verify it, then use it locally. */
  Copy
}
