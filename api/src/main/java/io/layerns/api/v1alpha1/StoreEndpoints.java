package io.layerns.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** Where a node exports its store, read-only, to its peers. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record StoreEndpoints(
    @JsonPropertyDescription(
            "Base URL of the HTTPS export serving blobs and manifests under OCI Distribution"
                + " paths, for example https://10.0.0.5:7443. It speaks TLS only, with a"
                + " certificate of sftpHostKey, and serves member nodes' keys only.")
        String http,
    @JsonPropertyDescription("host:port of the read-only SFTP export of the layer directories.")
        String sftp,
    @JsonPropertyDescription(
            "This node's own public key (OpenSSH format), made by its plugin and kept on the"
                + " node: the SFTP export's host key, which peers pin when they mount, the key of"
                + " the HTTPS export's certificate, which peers pin when they fetch, and the only"
                + " key this node logs in to peers' SFTP exports and connects to their HTTPS"
                + " exports with. Peers accept it while this node is a member of their namespace.")
        String sftpHostKey,
    @JsonPropertyDescription("host:path of the read-only NFSv4 export of the layer directories.")
        String nfs) {}
