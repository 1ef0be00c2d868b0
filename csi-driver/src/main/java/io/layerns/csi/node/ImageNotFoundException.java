package io.layerns.csi.node;

/** The image of a volume cannot be resolved from any source; answered as NOT_FOUND. */
public class ImageNotFoundException extends Exception {

  private static final long serialVersionUID = 1L;

  private final String image;

  public ImageNotFoundException(String image, String detail) {
    super("image " + image + " not found: " + detail);
    this.image = image;
  }

  /** As above, with the failure that shows it (the sources tried and their answers). */
  public ImageNotFoundException(String image, String detail, Throwable cause) {
    super("image " + image + " not found: " + detail, cause);
    this.image = image;
  }

  public String image() {
    return image;
  }
}
