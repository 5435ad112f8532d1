package org.apache.spark.launcher;

/** The JVM options every driver command gets (module opens for Java 17+). */
public class JavaModuleOptions {
  private static final String[] OPENS = {
    "java.base/java.lang", "java.base/java.lang.invoke", "java.base/java.lang.reflect",
    "java.base/java.io", "java.base/java.net", "java.base/java.nio", "java.base/java.util",
    "java.base/java.util.concurrent", "java.base/java.util.concurrent.atomic",
    "java.base/jdk.internal.ref", "java.base/sun.nio.ch", "java.base/sun.nio.cs",
    "java.base/sun.security.action", "java.base/sun.util.calendar",
    "java.security.jgss/sun.security.krb5",
  };

  /** Options for this Spark version (4.x adds the vector module and a netty property). */
  public static String[] defaultModuleOptionArray() {
    boolean four = LauncherVersion.major() >= 4;
    java.util.List<String> opts = new java.util.ArrayList<>();
    opts.add("-XX:+IgnoreUnrecognizedVMOptions");
    if (four) {
      opts.add("--add-modules=jdk.incubator.vector");
    }
    for (String o : OPENS) {
      opts.add("--add-opens=" + o + "=ALL-UNNAMED");
    }
    opts.add("-Djdk.reflect.useDirectMethodHandle=false");
    if (four) {
      opts.add("-Dio.netty.tryReflectionSetAccessible=true");
    }
    return opts.toArray(new String[0]);
  }

  public static String defaultModuleOptions() {
    return String.join(" ", defaultModuleOptionArray());
  }
}
