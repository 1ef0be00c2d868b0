package io.layerns.csi.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.layerns.csi.registry.FetchFailedException;
import io.layerns.csi.registry.FetchFailedException.Attempt;
import io.layerns.csi.registry.RegistryException;
import io.layerns.csi.registry.RegistryException.Reason;
import java.io.IOException;
import java.net.ConnectException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The text a pod's FailedMount event shows, from the sources' errors as the importer gives them.
 */
class FailedMountMessageTest {
  private static final String DIGEST =
      "sha256:0000000000000000000000000000000000000000000000000000000000000001";

  @Test
  void aPeerThatCouldNotBeAskedIsNotCountedAsHoldingNothing() {
    String image = "r.example:5000/team/app@" + DIGEST;
    FetchFailedException f =
        new FetchFailedException(
            "manifest " + DIGEST,
            List.of(
                new Attempt(
                    "peer https://10.0.0.2:7443",
                    new RegistryException(
                        Reason.UNAVAILABLE,
                        "peer https://10.0.0.2:7443",
                        "could not be reached: x",
                        new IOException("timed out"))),
                new Attempt(
                    "registry r.example:5000/team/app",
                    new RegistryException(
                        Reason.NOT_FOUND,
                        "r.example:5000",
                        404,
                        "manifest of team/app not found (MANIFEST_UNKNOWN: manifest unknown)"))));

    String said =
        FailedMountMessage.notFound(image, new ImageNotFoundException(image, "x", f)).orElseThrow();

    assertThat(said)
        .isEqualTo(
            "image "
                + image
                + " not found: no member node that could be asked holds it and the registry has"
                + " no manifest with digest "
                + DIGEST
                + ": r.example:5000 answered 404 (manifest unknown). Check the image's name and"
                + " digest.");
  }

  @Test
  void anUnreachableRegistrySaysItsOwnErrorWithoutClassNames() {
    String image = "r.example:5000/team/app@" + DIGEST;
    ConnectException refused = new ConnectException();
    refused.initCause(new IOException("java.net.ConnectException: Connection reset"));
    FetchFailedException f =
        new FetchFailedException(
            "manifest " + DIGEST,
            List.of(
                new Attempt(
                    "registry r.example:5000/team/app",
                    new RegistryException(
                        Reason.UNAVAILABLE,
                        "registry r.example:5000/team/app",
                        "could not be reached at https://r.example:5000/v2/team/app/manifests/x: "
                            + refused,
                        refused))));

    String said = FailedMountMessage.of(image, "node-7", new IOException(f)).orElseThrow();

    assertThat(said)
        .isEqualTo(
            "image "
                + image
                + " could not be fetched: no member node holds it and the registry r.example:5000"
                + " could not be reached over https (Connection reset). Check that the registry is up and"
                + " reachable from node node-7, or that a member node holds the image.");
  }

  @Test
  void aRefusedConnectionWithoutWordsIsSaidToBeRefused() {
    String image = "r.example:5000/team/app:1";
    FetchFailedException f =
        new FetchFailedException(
            "manifest 1",
            List.of(
                new Attempt(
                    "registry r.example:5000/team/app",
                    new RegistryException(
                        Reason.UNAVAILABLE,
                        "registry r.example:5000/team/app",
                        "could not be reached at http://r.example:5000/v2/team/app/manifests/1",
                        new ConnectException()))));

    assertThat(FailedMountMessage.of(image, "node-1", f))
        .hasValueSatisfying(
            said ->
                assertThat(said).contains("could not be reached over http (connection refused)."));
  }

  @Test
  void aMissingBlobKeepsTheWholeMessage() {
    String image = "r.example:5000/team/app:1";
    FetchFailedException f =
        new FetchFailedException(
            "config",
            List.of(
                new Attempt(
                    "registry r.example:5000/team/app",
                    new RegistryException(
                        Reason.NOT_FOUND,
                        "r.example:5000",
                        404,
                        "blob sha256:ab of team/app not found (BLOB_UNKNOWN: blob unknown)"))));

    assertThat(FailedMountMessage.notFound(image, new ImageNotFoundException(image, "x", f)))
        .isEmpty();
  }

  @Test
  void otherFailuresAreLeftAsTheyWere() {
    assertThat(FailedMountMessage.of("a/b:1", "node-1", new IOException("mount failed"))).isEmpty();
  }
}
