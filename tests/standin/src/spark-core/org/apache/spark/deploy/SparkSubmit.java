package org.apache.spark.deploy;

import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.UndeclaredThrowableException;
import java.net.URI;
import java.net.URL;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkException;
import org.apache.spark.SparkUserAppException;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.package$;
import org.apache.spark.util.MutableURLClassLoader;
import org.apache.spark.util.Utils;

/**
 * Client-mode spark-submit: parses the arguments, resolves --jars/--packages into a child
 * class loader (installed as the thread context class loader), publishes the Spark
 * configuration as system properties and invokes the application's static main. Exceptions
 * from the application propagate out of main unwrapped, as in Spark.
 */
public class SparkSubmit {
  static final int CLASS_NOT_FOUND_EXIT_STATUS = 101;
  static final String CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer";

  private final PrintStream out = System.err;

  public static void main(String[] args) {
    SparkSubmit$.MODULE$.main(args);
  }

  void doSubmit(String[] args) throws Exception {
    String ipv6 = System.getenv("SPARK_PREFER_IPV6");
    if (ipv6 != null) {
      System.setProperty("java.net.preferIPv6Addresses", ipv6);
    }
    try {
      SparkSubmitArguments a = new SparkSubmitArguments(Arrays.asList(args), out);
      if (a.verbose) {
        out.println(redacted(a.toString()));
      }
      if ("PRINT_VERSION".equals(a.action)) {
        printVersion();
      } else {
        submit(a);
      }
    } catch (SparkUserAppException e) {
      out.flush();
      System.exit(e.exitCode());
    }
  }

  private static String redacted(String text) {
    StringBuilder sb = new StringBuilder();
    for (String line : text.split("\n", -1)) {
      int comma = line.indexOf(',');
      if (line.startsWith("  (") && comma > 0) {
        String key = line.substring(3, comma);
        line = "  (" + key + "," + Utils.redact(key, line.substring(comma + 1, line.length() - 1)) + ")";
      }
      sb.append(line).append('\n');
    }
    return sb.toString();
  }

  private void printVersion() {
    package$ v = package$.MODULE$;
    out.println("Welcome to Spark (stand-in) version " + v.SPARK_VERSION());
    out.println("Using Scala version " + v.scalaBinaryVersion() + ", "
        + System.getProperty("java.vm.name") + ", " + System.getProperty("java.version"));
    out.println("Branch " + v.SPARK_BRANCH());
    out.println("Compiled by user " + v.SPARK_BUILD_USER() + " on " + v.SPARK_BUILD_DATE());
    out.println("Revision " + v.SPARK_REVISION());
    out.println("Url " + v.SPARK_REPO_URL());
    out.println("Type --help for more information.");
  }

  private void submit(SparkSubmitArguments a) throws Exception {
    if (a.proxyUser != null) {
      StandinLog.get("SparkSubmit").info("standin: running as proxy user " + a.proxyUser
          + " (no Hadoop UGI in the stand-in; sparkUser() reports it)");
      Utils.setCurrentUserName(a.proxyUser);
    }
    runMain(a);
  }

  private void runMain(SparkSubmitArguments a) throws Exception {
    String master = a.master;
    if (master != null && !master.startsWith("local")) {
      if (master.equals("yarn")) {
        throw new SparkException("Could not load YARN classes. "
            + "This copy of Spark may not have been compiled with YARN support.");
      } else if (master.startsWith("k8s")) {
        throw new SparkException("Could not load KUBERNETES classes. "
            + "This copy of Spark may not have been compiled with KUBERNETES support.");
      } else if (master.startsWith("spark")) {
        throw new SparkException("The stand-in cannot connect to standalone master " + master);
      }
      throw new SparkException("Master must either be yarn or start with spark, k8s, or local");
    }
    if ("cluster".equals(a.deployMode)) {
      throw new SparkException("Cluster deploy mode is not compatible with master \"local\"");
    }
    a.deployMode = "client";

    if (a.packages != null && !a.packages.trim().isEmpty()) {
      List<String> resolved = OfflinePackages.resolve(a.packages, a.ivyRepoPath, out);
      if (!resolved.isEmpty()) {
        String joined = String.join(",", resolved);
        a.jars = a.jars == null || a.jars.isEmpty() ? joined : a.jars + "," + joined;
      }
    }

    SparkConf conf = new SparkConf(false);
    System.setProperty("SPARK_SUBMIT", "true");
    if (a.remote == null) {
      conf.set("spark.master", a.master);
    } else {
      conf.set("spark.remote", a.remote);
      System.setProperty("spark.remote", a.remote);
      if (a.master != null) {
        conf.set("spark.master", a.master);
      }
    }
    conf.set("spark.submit.deployMode", a.deployMode);
    setIf(conf, "spark.app.name", a.name);
    setIf(conf, "spark.jars.ivy", a.ivyRepoPath);
    setIf(conf, "spark.driver.memory", a.driverMemory);
    setIf(conf, "spark.driver.extraClassPath", a.driverExtraClassPath);
    setIf(conf, "spark.driver.defaultExtraClassPath", a.driverDefaultClassPath);
    setIf(conf, "spark.driver.extraJavaOptions", a.driverExtraJavaOptions);
    setIf(conf, "spark.driver.extraLibraryPath", a.driverExtraLibraryPath);
    setIf(conf, "spark.kerberos.principal", a.principal);
    setIf(conf, "spark.kerberos.keytab", a.keytab);
    setIf(conf, "spark.files", a.files);
    setIf(conf, "spark.archives", a.archives);
    setIf(conf, "spark.jars", a.jars);
    setIf(conf, "spark.repl.local.jars", a.jars);

    List<String> childClasspath = new ArrayList<>();
    boolean userJar = isUserJar(a.primaryResource);
    if (userJar) {
      childClasspath.add(a.primaryResource);
      String jars = conf.get("spark.jars", "");
      conf.set("spark.jars", jars.isEmpty() ? a.primaryResource : jars + "," + a.primaryResource);
    }
    if (a.jars != null) {
      for (String j : a.jars.split(",")) {
        if (!j.trim().isEmpty()) {
          childClasspath.add(j.trim());
        }
      }
    }
    for (Map.Entry<String, String> e : a.sparkProperties.entrySet()) {
      conf.setIfMissing(e.getKey(), e.getValue());
    }
    for (String key : new String[] {"spark.jars", "spark.files", "spark.archives"}) {
      if (conf.contains(key)) {
        conf.set(key, Utils.resolveURIs(conf.get(key)));
      }
    }
    conf.setIfMissing("spark.submit.pyFiles", "");
    conf.setIfMissing("spark.app.submitTime", Long.toString(System.currentTimeMillis()));

    if (a.verbose) {
      out.println("Main class:\n" + a.mainClass);
      out.println("Arguments:\n" + String.join("\n", a.childArgs));
      StringBuilder sb = new StringBuilder("Spark config:\n");
      for (Map.Entry<String, String> e : conf.getAllAsSortedMap().entrySet()) {
        sb.append('(').append(e.getKey()).append(',')
            .append(Utils.redact(e.getKey(), e.getValue())).append(")\n");
      }
      out.println(sb);
      out.println("Classpath elements:\n" + String.join("\n", childClasspath) + "\n");
    }

    ClassLoader parent = Thread.currentThread().getContextClassLoader();
    if (parent == null) {
      parent = SparkSubmit.class.getClassLoader();
    }
    MutableURLClassLoader loader = new MutableURLClassLoader(new URL[0], parent);
    Thread.currentThread().setContextClassLoader(loader);
    for (String jar : childClasspath) {
      addJarToClasspath(jar, loader);
    }

    Class<?> mainClass;
    try {
      mainClass = Class.forName(a.mainClass, true, loader);
    } catch (ClassNotFoundException e) {
      out.println("Error: Failed to load class " + a.mainClass + ".");
      if (a.mainClass.contains("thriftserver")) {
        out.println("Failed to load main class " + a.mainClass + ".");
        out.println("You need to build Spark with -Phive and -Phive-thriftserver.");
      } else if (a.mainClass.contains("org.apache.spark.sql.connect")) {
        out.println("Failed to load main class " + a.mainClass + ".");
        out.println("You need to specify Spark Connect jars with --jars or --packages.");
      }
      throw new SparkUserAppException(CLASS_NOT_FOUND_EXIT_STATUS);
    } catch (NoClassDefFoundError e) {
      out.println("Error: Failed to load " + a.mainClass + ": " + e.getMessage());
      throw new SparkUserAppException(CLASS_NOT_FOUND_EXIT_STATUS);
    }

    Method main = mainClass.getMethod("main", String[].class);
    if (!Modifier.isStatic(main.getModifiers())) {
      throw new IllegalStateException("The main method in the given main class must be static");
    }
    for (Map.Entry<String, String> e : conf.getAllAsSortedMap().entrySet()) {
      System.setProperty(e.getKey(), e.getValue());
    }
    try {
      main.invoke(null, (Object) a.childArgs.toArray(new String[0]));
    } catch (Throwable t) {
      throw Utils.rethrow(findCause(t));
    }
  }

  private static Throwable findCause(Throwable t) {
    while ((t instanceof InvocationTargetException || t instanceof UndeclaredThrowableException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static void setIf(SparkConf conf, String key, String value) {
    if (value != null) {
      conf.set(key, value);
    }
  }

  private static boolean isUserJar(String res) {
    return res != null && !SparkSubmitArguments.isShell(res)
        && !SparkSubmitArguments.NO_RESOURCE.equals(res)
        && !res.endsWith(".py") && !res.endsWith(".R") && !res.endsWith(".r");
  }

  private void addJarToClasspath(String jar, MutableURLClassLoader loader) throws Exception {
    URI uri = Utils.resolveURI(jar);
    String scheme = uri.getScheme();
    if ("file".equals(scheme) || "local".equals(scheme)) {
      File f = new File(uri.getPath());
      if (f.exists()) {
        loader.addURL(f.toURI().toURL());
      } else {
        out.println("Warning: Local jar " + f + " does not exist, skipping.");
      }
    } else {
      out.println("Warning: Skip remote jar " + uri + ".");
    }
  }
}
