package org.apache.spark;

import java.io.InputStream;
import java.util.Properties;

/**
 * Version information from spark-version-info.properties, like the Scala package object
 * org.apache.spark.package$ (SPARK_VERSION and friends). The stand-in build writes the
 * properties file per home, which is how one set of classes serves both 4.0.1 and 3.5.3.
 */
public final class package$ {
  public static final package$ MODULE$ = new package$();

  private final Properties props = new Properties();

  private package$() {
    try (InputStream in = package$.class.getClassLoader()
        .getResourceAsStream("spark-version-info.properties")) {
      if (in != null) {
        props.load(in);
      }
    } catch (java.io.IOException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  public String SPARK_VERSION() {
    return props.getProperty("version", "4.0.1");
  }

  public String SPARK_VERSION_SHORT() {
    return SPARK_VERSION();
  }

  public String SPARK_BRANCH() {
    return props.getProperty("branch", "");
  }

  public String SPARK_REVISION() {
    return props.getProperty("revision", "");
  }

  public String SPARK_BUILD_USER() {
    return props.getProperty("user", "");
  }

  public String SPARK_BUILD_DATE() {
    return props.getProperty("date", "");
  }

  public String SPARK_REPO_URL() {
    return props.getProperty("url", "");
  }

  /** Scala binary version of this home (2.13 for 4.x, 2.12 for 3.5). Stand-in helper. */
  public String scalaBinaryVersion() {
    return props.getProperty("scala.binary.version", majorVersion() >= 4 ? "2.13" : "2.12");
  }

  /** Major Spark version as a number. Stand-in helper used for version-specific behaviour. */
  public int majorVersion() {
    String v = SPARK_VERSION();
    int dot = v.indexOf('.');
    return Integer.parseInt(dot < 0 ? v : v.substring(0, dot));
  }
}
