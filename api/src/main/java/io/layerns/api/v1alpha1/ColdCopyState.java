package io.layerns.api.v1alpha1;

/** What the node that keeps a layer's bucket copy last found in the bucket. */
public enum ColdCopyState {
  /** Written, read back and its digest matched: the copy counts toward durability. */
  Confirmed,
  /** The object is not in the bucket (never written yet, or deleted). */
  Missing,
  /** The object is there but its bytes do not match the digest. */
  Corrupt,
  /** The bucket could not be read or written (server down, credentials, bucket missing). */
  Failed
}
