package io.layerns.csi.agent;

import java.io.IOException;
import java.util.Map;

/** Imports images the namespace asks to have ahead of any pod. */
public interface Preloader {

  /** Whether the image was imported here before (its manifest is recorded in the store). */
  boolean imported(String image) throws IOException;

  /**
   * Imports the image into the store.
   *
   * @return the repository each of its layers came from, by layer digest
   */
  Map<String, String> importImage(String image) throws IOException;
}
