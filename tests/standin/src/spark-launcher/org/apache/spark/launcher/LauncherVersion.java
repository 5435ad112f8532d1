package org.apache.spark.launcher;

import java.io.InputStream;
import java.util.Properties;

/** Reads the Spark version from spark-version-info.properties (shipped in spark-core). */
final class LauncherVersion {
  private static String version;

  private LauncherVersion() {}

  static synchronized String version() {
    if (version == null) {
      Properties p = new Properties();
      try (InputStream in = LauncherVersion.class.getClassLoader()
          .getResourceAsStream("spark-version-info.properties")) {
        if (in != null) {
          p.load(in);
        }
      } catch (java.io.IOException e) {
        // fall through to the default
      }
      version = p.getProperty("version", "4.0.1");
    }
    return version;
  }

  static int major() {
    String v = version();
    int dot = v.indexOf('.');
    return Integer.parseInt(dot < 0 ? v : v.substring(0, dot));
  }
}
