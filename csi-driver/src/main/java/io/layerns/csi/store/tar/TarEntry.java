package io.layerns.csi.store.tar;

import java.util.Map;

/**
 * One member of a tar archive after its PAX and GNU extension headers are applied.
 *
 * @param name the member's path as written in the archive, not yet checked
 * @param type what the member is
 * @param typeFlag the raw type flag, for messages about unsupported types
 * @param size bytes of content that follow the header
 * @param mode permission bits, setuid, setgid and sticky included
 * @param uid owner
 * @param gid group
 * @param mtimeSeconds modification time, seconds since the epoch
 * @param mtimeNanos nanoseconds part of the modification time
 * @param linkName a symlink's target or a hardlink's earlier member, else empty
 * @param devMajor device major number of device members
 * @param devMinor device minor number of device members
 * @param xattrs extended attributes from PAX {@code SCHILY.xattr.*} records, raw bytes
 */
public record TarEntry(
    String name,
    Type type,
    char typeFlag,
    long size,
    int mode,
    long uid,
    long gid,
    long mtimeSeconds,
    int mtimeNanos,
    String linkName,
    long devMajor,
    long devMinor,
    Map<String, byte[]> xattrs) {

  /** The kinds of tar members. */
  public enum Type {
    REGULAR,
    HARDLINK,
    SYMLINK,
    CHARACTER_DEVICE,
    BLOCK_DEVICE,
    DIRECTORY,
    FIFO,
    UNSUPPORTED
  }
}
