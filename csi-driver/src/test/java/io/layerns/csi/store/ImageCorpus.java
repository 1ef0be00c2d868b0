package io.layerns.csi.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Multi-layer OCI images built from real Debian packages (no image registry is needed, the Debian
 * mirror is): a debootstrap minbase with its device nodes, busybox, ping with its file capability,
 * a FIFO spool, the Python standard library with many small files, large files, and hardlinks with
 * long and non-ASCII names. Each is built once and cached under the cache directory, keyed by its
 * recipe (the shell script and the packages it names), so reruns only read the cache.
 *
 * <p>{@link #images} is the hook for other tests (a real pod on a real cluster, say): each image as
 * an OCI image layout with one tag.
 */
public final class ImageCorpus {

  /** One corpus image: its name, the OCI layout holding it under tag {@code name}, its layers. */
  public record Image(String name, Path layout, int layers, long uncompressedBytes) {
    public String tag() {
      return name;
    }
  }

  /** A recipe: a script that fills the layer directories {@code $OUT/1}, {@code $OUT/2}, ... */
  record Recipe(String name, String script) {}

  private static final String MIRROR_SOURCES = "/etc/apt/sources.list.d/debian.sources";

  /**
   * The debootstrap rootfs of {@code bookworm} minbase, as one directory per layer: what
   * debootstrap wrote except usr/share and var (devices included), then usr/share, then var.
   */
  private static final String MINBASE =
      """
      rootfs="$CACHE/minbase-rootfs"
      if [ ! -e "$rootfs/.done" ]; then
        rm -rf "$rootfs"
        debootstrap --variant=minbase --cache-dir="$DEBS" bookworm "$rootfs" "$MIRROR" >&2
        touch "$rootfs/.done"
      fi
      mkdir -p "$OUT/1" "$OUT/2" "$OUT/3"
      tar -C "$rootfs" --exclude=./.done --exclude=./usr/share --exclude=./var \\
        --xattrs --xattrs-include='*' -cf - . | tar -C "$OUT/1" --xattrs --xattrs-include='*' -xpf -
      mkdir -p "$OUT/2/usr" "$OUT/3"
      cp -a "$rootfs/usr/share" "$OUT/2/usr/"
      cp -a "$rootfs/var" "$OUT/3/"
      """;

  private static final String DEB =
      """
      deb() { # the .deb of package $1 in $DEBS, downloaded once
        f=$(ls "$DEBS"/"$1"_*.deb 2>/dev/null | head -1)
        if [ -z "$f" ]; then (cd "$DEBS" && apt-get download "$1" >&2); f=$(ls "$DEBS"/"$1"_*.deb | head -1); fi
        echo "$f"
      }
      """;

  static final List<Recipe> RECIPES =
      List.of(
          new Recipe("debian-minbase", MINBASE),
          new Recipe(
              "busybox",
              DEB
                  + """
                  mkdir -p "$OUT/1" "$OUT/2/bin"
                  dpkg-deb -x "$(deb busybox-static)" "$OUT/1"
                  # --list names busybox itself: a link of that name would replace the binary.
                  for a in $("$OUT/1/bin/busybox" --list); do
                    [ "$a" = busybox ] || ln -s busybox "$OUT/2/bin/$a"
                  done
                  """),
          new Recipe(
              "ping-capability",
              MINBASE
                  + DEB
                  + """
                  # As dpkg installs it on the merged /usr that minbase has (bin -> usr/bin).
                  mkdir -p "$OUT/4" "$OUT/deb"
                  dpkg-deb -x "$(deb iputils-ping)" "$OUT/deb"
                  mkdir -p "$OUT/deb/usr/bin"; mv "$OUT/deb/bin/"* "$OUT/deb/usr/bin/"; rmdir "$OUT/deb/bin"
                  cp -a "$OUT/deb/." "$OUT/4/"; rm -rf "$OUT/deb"
                  # What the package's postinst does: the capability instead of setuid root.
                  setcap cap_net_raw+ep "$OUT/4/usr/bin/ping"
                  """),
          new Recipe(
              "postfix-fifos",
              DEB
                  + """
                  mkdir -p "$OUT/1" "$OUT/2/var/spool/postfix/public" "$OUT/2/var/spool/postfix/private"
                  dpkg-deb -x "$(deb busybox-static)" "$OUT/1"
                  # The FIFOs postfix's set-permissions makes (postfix 101, postdrop 102).
                  for f in public/pickup public/qmgr; do
                    mkfifo -m 0622 "$OUT/2/var/spool/postfix/$f"
                    chown 101:102 "$OUT/2/var/spool/postfix/$f"
                  done
                  chown 101:0 "$OUT/2/var/spool/postfix/private"; chmod 0700 "$OUT/2/var/spool/postfix/private"
                  chgrp 102 "$OUT/2/var/spool/postfix/public"; chmod 2710 "$OUT/2/var/spool/postfix/public"
                  """),
          new Recipe(
              "python-stdlib",
              DEB
                  + """
                  mkdir -p "$OUT/1" "$OUT/2" "$OUT/3"
                  dpkg-deb -x "$(deb libpython3.11-minimal)" "$OUT/1"
                  dpkg-deb -x "$(deb python3.11-minimal)" "$OUT/1"
                  dpkg-deb -x "$(deb libpython3.11-stdlib)" "$OUT/2"
                  # Byte-code at the three optimization levels, as py3compile leaves it.
                  cp -a "$OUT/2/." "$OUT/3/"; cp -a "$OUT/1/usr/lib/python3.11/." "$OUT/3/usr/lib/python3.11/"
                  python3 -m compileall -q -o 0 -o 1 -o 2 "$OUT/3/usr/lib/python3.11" >/dev/null || true
                  find "$OUT/3" -type f ! -name '*.pyc' -delete
                  # And many more small files: 20,000 of 0 to 2 KiB, 100 to a directory.
                  i=0; while [ $i -lt 200 ]; do
                    d="$OUT/3/usr/share/small/$i"; mkdir -p "$d"
                    j=0; while [ $j -lt 100 ]; do head -c $(( (i * 100 + j) % 2048 )) /usr/share/common-licenses/GPL-3 > "$d/$j.txt"; j=$((j+1)); done
                    i=$((i+1))
                  done
                  """),
          new Recipe(
              "large-files",
              """
              mkdir -p "$OUT/1/data" "$OUT/2/data"
              # Reproducible bytes that do not compress: AES-CTR of zeros with a fixed key.
              head -c 67108864 /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0 > "$OUT/1/data/a.bin"
              head -c 67108864 /dev/zero | openssl enc -aes-128-ctr -K 0f0e0d0c0b0a09080706050403020100 -iv 0 > "$OUT/2/data/b.bin"
              truncate -s 0 "$OUT/2/data/empty"
              """),
          new Recipe(
              "links-and-names",
              """
              mkdir -p "$OUT/1/a" "$OUT/1/b" "$OUT/1/c" "$OUT/2"
              i=0; while [ $i -lt 2000 ]; do
                echo "file $i" > "$OUT/1/a/f$i"; ln "$OUT/1/a/f$i" "$OUT/1/b/f$i"; ln "$OUT/1/a/f$i" "$OUT/1/c/g$i"
                i=$((i+1))
              done
              long=$(printf 'n%.0s' $(seq 1 255))
              deep="$OUT/2/$(printf 'directory-%03d/' $(seq 1 40))"
              mkdir -p "$deep"; echo deep > "$deep/$long"
              mkdir -p "$OUT/2/names"
              for n in 'café' '日本語のファイル名' 'emoji-😀' 'space in name' 'tab	name' 'quote"and\\\\back' 'ÄÖÜ-äöü-ß' 'Ελληνικά' 'עברית' 'line
              break'; do echo "$n" > "$OUT/2/names/$n"; done
              ln "$OUT/2/names/café" "$OUT/2/names/café-link"
              """));

  private ImageCorpus() {}

  /** Every corpus image as an OCI layout, built (or taken from the cache) under {@code cache}. */
  public static List<Image> images(Path cache) throws IOException, InterruptedException {
    List<Image> out = new ArrayList<>();
    for (Recipe r : RECIPES) {
      out.add(build(r, cache));
    }
    return out;
  }

  static Image build(Recipe recipe, Path cache) throws IOException, InterruptedException {
    Path debs = Files.createDirectories(cache.resolve("debs"));
    String key = recipe.name() + "-" + sha256(recipe.script()).substring(0, 12);
    Path dir = cache.resolve(key);
    Path layout = dir.resolve("layout");
    if (Files.exists(dir.resolve("done"))) {
      return read(recipe.name(), dir);
    }
    Trees.delete(dir);
    Path work = Files.createDirectories(dir.resolve("work"));
    run(
        List.of(
            "bash",
            "-euc",
            recipe.script(),
            recipe.name(),
            // Arguments are not used; the script reads the environment below.
            "unused"),
        work,
        cache,
        debs);
    List<TestLayer> layers = new ArrayList<>();
    long bytes = 0;
    for (int i = 1; Files.isDirectory(work.resolve(Integer.toString(i))); i++) {
      Path tar = dir.resolve("layer-" + i + ".tar");
      // PAX with every xattr (capabilities), numeric owners, sorted: what image builders write.
      run(
          List.of(
              "tar",
              "--format=posix",
              "--xattrs",
              "--xattrs-include=*",
              "--numeric-owner",
              "--sort=name",
              "-C",
              work.resolve(Integer.toString(i)).toString(),
              "-cf",
              tar.toString(),
              "."),
          work,
          cache,
          debs);
      byte[] bytesOfTar = Files.readAllBytes(tar);
      bytes += bytesOfTar.length;
      // Small layers compressed as registries serve them; the large ones plain, to spare memory.
      layers.add(
          TestLayer.of(
              bytesOfTar,
              bytesOfTar.length > 32 << 20 ? LayerCompression.NONE : LayerCompression.GZIP));
      Files.delete(tar);
    }
    OciLayout.write(layout, recipe.name(), layers);
    Trees.delete(work);
    Files.writeString(dir.resolve("done"), layers.size() + " " + bytes + "\n");
    return read(recipe.name(), dir);
  }

  /** One line per path of the tree, as {@link TreeListing} writes it. */
  public static List<String> listing(Path root) throws IOException {
    return TreeListing.list(root);
  }

  private static Image read(String name, Path dir) throws IOException {
    String[] done = Files.readString(dir.resolve("done")).trim().split(" ");
    return new Image(
        name, dir.resolve("layout"), Integer.parseInt(done[0]), Long.parseLong(done[1]));
  }

  private static void run(List<String> command, Path work, Path cache, Path debs)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).directory(work.toFile());
    pb.environment().put("OUT", work.toString());
    pb.environment().put("CACHE", cache.toString());
    pb.environment().put("DEBS", debs.toString());
    pb.environment().put("MIRROR", mirror());
    pb.environment().put("LC_ALL", "C.UTF-8");
    pb.redirectErrorStream(true);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(15, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IOException(
          String.join(" ", command.subList(0, Math.min(3, command.size())))
              + " failed:\n"
              + output);
    }
  }

  /** The Debian mirror the machine's apt uses. */
  private static String mirror() throws IOException {
    for (String line : Files.readAllLines(Path.of(MIRROR_SOURCES))) {
      if (line.startsWith("URIs:")) {
        return line.substring("URIs:".length()).trim().split("\\s+")[0];
      }
    }
    throw new IOException("no URIs line in " + MIRROR_SOURCES);
  }

  private static String sha256(String s) {
    MessageDigest sha = Digest.newSha256();
    return HexFormat.of().formatHex(sha.digest(s.getBytes(StandardCharsets.UTF_8)));
  }
}
