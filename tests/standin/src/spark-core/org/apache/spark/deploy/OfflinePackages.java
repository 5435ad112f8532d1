package org.apache.spark.deploy;

import java.io.File;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.spark.package$;

/**
 * --packages without a network: each groupId:artifactId:version must already sit in the Ivy
 * retrieval directory as {@code <ivy>/jars/<groupId>_<artifactId>-<version>.jar}, where
 * {@code <ivy>} is spark.jars.ivy, else the ivy.home system property, else ~/.ivy2.5.2
 * (4.x) or ~/.ivy2 (3.5). Prints Ivy-like progress and fails like an unresolved dependency.
 */
final class OfflinePackages {
  private OfflinePackages() {}

  static List<String> resolve(String packages, String ivyPath, PrintStream out) {
    String ivy = ivyPath;
    if (ivy == null || ivy.trim().isEmpty()) {
      String dflt = package$.MODULE$.majorVersion() >= 4 ? ".ivy2.5.2" : ".ivy2";
      ivy = System.getProperty("ivy.home",
          System.getProperty("user.home") + File.separator + dflt);
    }
    File jarsDir = new File(ivy, "jars");
    out.println("Ivy Default Cache set to: " + new File(ivy, "cache").getAbsolutePath());
    out.println("The jars for the packages stored in: " + jarsDir.getAbsolutePath());
    List<String[]> coords = new ArrayList<>();
    for (String p : packages.split(",")) {
      if (p.trim().isEmpty()) {
        continue;
      }
      String[] s = p.trim().replace("/", ":").split(":");
      if (s.length != 3) {
        throw new IllegalArgumentException("requirement failed: Provided Maven Coordinates must "
            + "be in the form 'groupId:artifactId:version'. The coordinate provided is: " + p);
      }
      coords.add(s);
      out.println(s[0] + "#" + s[1] + " added as a dependency");
    }
    String parent = "org.apache.spark#spark-submit-parent-" + UUID.randomUUID();
    out.println(":: resolving dependencies :: " + parent + ";1.0");
    out.println("\tconfs: [default]");
    List<String> found = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    for (String[] c : coords) {
      File jar = new File(jarsDir, c[0] + "_" + c[1] + "-" + c[2] + ".jar");
      if (jar.isFile()) {
        out.println("\tfound " + c[0] + "#" + c[1] + ";" + c[2] + " in local-ivy-cache");
        found.add(jar.getAbsolutePath());
      } else {
        missing.add(c[0] + "#" + c[1] + ";" + c[2]);
      }
    }
    if (!missing.isEmpty()) {
      out.println(":: problems summary ::");
      out.println(":::: WARNINGS");
      for (String m : missing) {
        out.println("\t\tmodule not found: " + m);
      }
      out.println("\t\t::::::::::::::::::::::::::::::::::::::::::::::");
      out.println("\t\t::          UNRESOLVED DEPENDENCIES         ::");
      out.println("\t\t::::::::::::::::::::::::::::::::::::::::::::::");
      for (String m : missing) {
        out.println("\t\t:: " + m + ": not found");
      }
      out.println("\t\t::::::::::::::::::::::::::::::::::::::::::::::");
      out.println();
      out.println(":: USE VERBOSE OR DEBUG MESSAGE LEVEL FOR MORE DETAILS");
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < missing.size(); i++) {
        sb.append(i == 0 ? "" : ", ").append("unresolved dependency: ")
            .append(missing.get(i)).append(": not found");
      }
      throw new RuntimeException(sb.append(']').toString());
    }
    out.println(":: retrieving :: " + parent);
    out.println("\tconfs: [default]");
    out.println("\t0 artifacts copied, " + found.size() + " already retrieved (0kB/1ms)");
    return found;
  }
}
