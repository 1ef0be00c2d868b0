package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** Where a node exports its store, read-only, to its peers. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record StoreEndpoints(
    @JsonPropertyDescription(
            "Base URL of the HTTP export serving blobs and manifests under OCI Distribution"
                + " paths, for example http://10.0.0.5:7443.")
        String http,
    @JsonPropertyDescription("host:port of the read-only SFTP export of the layer directories.")
        String sftp,
    @JsonPropertyDescription(
            "The SFTP export's host public key (OpenSSH format), which peers pin when they mount.")
        String sftpHostKey,
    @JsonPropertyDescription("host:path of the read-only NFSv4 export of the layer directories.")
        String nfs) {

  /** Endpoints without an SFTP host key (no SFTP export, or one whose key is not known). */
  public StoreEndpoints(String http, String sftp, String nfs) {
    this(http, sftp, null, nfs);
  }
}
