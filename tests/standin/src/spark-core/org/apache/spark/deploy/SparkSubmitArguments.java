package org.apache.spark.deploy;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.jar.JarFile;
import org.apache.spark.SparkException;
import org.apache.spark.launcher.SparkSubmitOptionParser;
import org.apache.spark.util.Utils;

/** spark-submit's command line, merged with the properties file and the environment. */
final class SparkSubmitArguments extends SparkSubmitOptionParser {
  static final String NO_RESOURCE = "spark-internal";

  String master;
  String remote;
  String deployMode;
  String driverMemory;
  String driverExtraClassPath;
  String driverExtraJavaOptions;
  String driverExtraLibraryPath;
  String propertiesFile;
  boolean loadSparkDefaults;
  String driverDefaultClassPath;
  String files;
  String pyFiles;
  String archives;
  String jars;
  String packages;
  String packagesExclusions;
  String repositories;
  String ivyRepoPath;
  String mainClass;
  String primaryResource;
  String name;
  String proxyUser;
  String principal;
  String keytab;
  boolean verbose;
  String action = "SUBMIT";
  final List<String> childArgs = new ArrayList<>();
  final Map<String, String> sparkProperties = new LinkedHashMap<>();

  private final PrintStream out;

  SparkSubmitArguments(List<String> args, PrintStream out) throws SparkException {
    this.out = out;
    try {
      parse(args);
    } catch (ParseError e) {
      throw e.error;
    }
    mergeDefaultSparkProperties();
    ignoreNonSparkProperties();
    loadEnvironmentArguments();
    if ("SUBMIT".equals(action)) {
      validateSubmitArguments(args);
    }
  }

  /** Carries a checked SparkException out of the parser callbacks. */
  private static final class ParseError extends RuntimeException {
    final SparkException error;

    ParseError(String msg) {
      super(msg, null, false, false);
      this.error = new SparkException(msg);
    }
  }

  @Override
  protected boolean handle(String opt, String value) {
    switch (opt) {
      case NAME: name = value; break;
      case MASTER: master = value; break;
      case REMOTE: remote = value; break;
      case CLASS: mainClass = value; break;
      case DEPLOY_MODE:
        if (!"client".equals(value) && !"cluster".equals(value)) {
          throw new ParseError("--deploy-mode must be either \"client\" or \"cluster\"");
        }
        deployMode = value;
        break;
      case DRIVER_MEMORY: driverMemory = value; break;
      case DRIVER_CLASS_PATH: driverExtraClassPath = value; break;
      case DRIVER_JAVA_OPTIONS: driverExtraJavaOptions = value; break;
      case DRIVER_LIBRARY_PATH: driverExtraLibraryPath = value; break;
      case PROPERTIES_FILE: propertiesFile = value; break;
      case LOAD_SPARK_DEFAULTS: loadSparkDefaults = true; break;
      case DRIVER_DEFAULT_CLASS_PATH: driverDefaultClassPath = value; break;
      case FILES: files = Utils.resolveURIs(value); break;
      case PY_FILES: pyFiles = Utils.resolveURIs(value); break;
      case ARCHIVES: archives = Utils.resolveURIs(value); break;
      case JARS: jars = Utils.resolveURIs(value); break;
      case PACKAGES: packages = value; break;
      case PACKAGES_EXCLUDE: packagesExclusions = value; break;
      case REPOSITORIES: repositories = value; break;
      case CONF:
        String[] kv = value.split("=", 2);
        if (kv.length != 2) {
          throw new ParseError("Spark config without '=': " + value);
        }
        sparkProperties.put(kv[0], kv[1]);
        break;
      case PROXY_USER: proxyUser = value; break;
      case PRINCIPAL: principal = value; break;
      case KEYTAB: keytab = value; break;
      case KILL_SUBMISSION:
      case STATUS:
        throw new ParseError(opt + " is not supported by the stand-in (client mode only)");
      case HELP: printUsageAndExit(0); break;
      case VERBOSE: verbose = true; break;
      case VERSION: action = "PRINT_VERSION"; break;
      case USAGE_ERROR: printUsageAndExit(1); break;
      case SUPERVISE:
      case DRIVER_CORES:
      case EXECUTOR_MEMORY:
      case EXECUTOR_CORES:
      case TOTAL_EXECUTOR_CORES:
      case NUM_EXECUTORS:
      case QUEUE:
        break;
      default:
        throw new ParseError("Unexpected argument '" + opt + "'.");
    }
    return !"PRINT_VERSION".equals(action);
  }

  @Override
  protected boolean handleUnknown(String opt) {
    if (opt.startsWith("-")) {
      throw new ParseError("Unrecognized option '" + opt + "'.");
    }
    primaryResource = isShell(opt) || NO_RESOURCE.equals(opt) ? opt : Utils.resolveURI(opt).toString();
    return false;
  }

  @Override
  protected void handleExtraArgs(List<String> extra) {
    childArgs.addAll(extra);
  }

  static boolean isShell(String res) {
    return "spark-shell".equals(res) || "pyspark-shell".equals(res)
        || "sparkr-shell".equals(res) || "connect-shell".equals(res);
  }

  private void mergeDefaultSparkProperties() throws SparkException {
    if (propertiesFile != null) {
      if (verbose) {
        out.println("Using properties file: " + propertiesFile);
      }
      loadProperties(new File(propertiesFile), true);
    }
    if (propertiesFile == null || (loadSparkDefaults && isSpark4())) {
      String conf = System.getenv("SPARK_CONF_DIR");
      if (conf == null && System.getenv("SPARK_HOME") != null) {
        conf = System.getenv("SPARK_HOME") + File.separator + "conf";
      }
      if (conf != null) {
        File f = new File(conf, "spark-defaults.conf");
        if (f.isFile()) {
          if (verbose) {
            out.println("Using properties file: " + f.getAbsolutePath());
          }
          loadProperties(f, false);
        }
      }
    }
  }

  private void loadProperties(File f, boolean mustExist) throws SparkException {
    if (!f.isFile()) {
      if (mustExist) {
        throw new SparkException("Properties file " + f + " does not exist");
      }
      return;
    }
    Properties p = new Properties();
    try (InputStreamReader r = new InputStreamReader(new FileInputStream(f), StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (IOException e) {
      throw new SparkException("Failed when loading Spark properties from " + f, e);
    }
    for (String k : p.stringPropertyNames()) {
      sparkProperties.putIfAbsent(k, p.getProperty(k).trim());
    }
  }

  private void ignoreNonSparkProperties() {
    for (String k : new ArrayList<>(sparkProperties.keySet())) {
      if (!k.startsWith("spark.")) {
        sparkProperties.remove(k);
        out.println("Warning: Ignoring non-Spark config property: " + k);
      }
    }
  }

  private String prop(String key) {
    return sparkProperties.get(key);
  }

  private static String first(String... vs) {
    for (String v : vs) {
      if (v != null) {
        return v;
      }
    }
    return null;
  }

  private void loadEnvironmentArguments() throws SparkException {
    master = first(master, prop("spark.master"), System.getenv("MASTER"));
    remote = first(remote, prop("spark.remote"));
    driverExtraClassPath = first(driverExtraClassPath, prop("spark.driver.extraClassPath"));
    driverExtraJavaOptions = first(driverExtraJavaOptions, prop("spark.driver.extraJavaOptions"));
    driverExtraLibraryPath = first(driverExtraLibraryPath, prop("spark.driver.extraLibraryPath"));
    driverMemory = first(driverMemory, prop("spark.driver.memory"),
        System.getenv("SPARK_DRIVER_MEMORY"));
    name = first(name, prop("spark.app.name"));
    jars = first(jars, prop("spark.jars"));
    files = first(files, prop("spark.files"));
    archives = first(archives, prop("spark.archives"));
    pyFiles = first(pyFiles, prop("spark.submit.pyFiles"));
    ivyRepoPath = prop("spark.jars.ivy");
    packages = first(packages, prop("spark.jars.packages"));
    packagesExclusions = first(packagesExclusions, prop("spark.jars.excludes"));
    repositories = first(repositories, prop("spark.jars.repositories"));
    deployMode = first(deployMode, prop("spark.submit.deployMode"), System.getenv("DEPLOY_MODE"));
    principal = first(principal, prop("spark.kerberos.principal"));
    keytab = first(keytab, prop("spark.kerberos.keytab"));

    if (mainClass == null && primaryResource != null && !NO_RESOURCE.equals(primaryResource)
        && !isShell(primaryResource)) {
      mainClass = mainClassFromJar(primaryResource);
    }
    if (master == null && remote == null) {
      master = "local[*]";
    }
    if (name == null) {
      name = mainClass;
    }
    if (name == null && primaryResource != null) {
      name = new File(URI.create(primaryResource).getPath()).getName();
    }
  }

  private String mainClassFromJar(String resource) throws SparkException {
    URI uri = URI.create(resource);
    if (!"file".equals(uri.getScheme())) {
      return null;
    }
    try (JarFile jar = new JarFile(new File(uri.getPath()))) {
      String cls = jar.getManifest() == null
          ? null : jar.getManifest().getMainAttributes().getValue("Main-Class");
      if (cls == null) {
        throw new SparkException("No main class set in JAR; please specify one with --class.");
      }
      return cls;
    } catch (IOException e) {
      throw new SparkException("Cannot load main class from JAR " + resource
          + " with URI file. Please specify a class through --class.", e);
    }
  }

  private void validateSubmitArguments(List<String> args) throws SparkException {
    if (args.isEmpty()) {
      printUsageAndExit(-1);
    }
    if (remote != null && (prop("spark.master") != null || deployMode != null)) {
      throw new SparkException("Remote cannot be specified with master and/or deploy mode.");
    }
    if (primaryResource == null) {
      throw new SparkException("Must specify a primary resource (JAR or Python or R file)");
    }
    if (mainClass == null) {
      throw new SparkException("No main class set in JAR; please specify one with --class.");
    }
    if (driverMemory != null) {
      long bytes;
      try {
        bytes = Utils.byteStringAsBytes(driverMemory);
      } catch (NumberFormatException e) {
        bytes = -1;
      }
      if (bytes <= 0) {
        throw new SparkException("Driver memory must be a positive number");
      }
    }
  }

  void printUsageAndExit(int exitCode) {
    out.println("Usage: spark-submit [options] <app jar | python file | R file> [app arguments]");
    out.println();
    out.println("Options (stand-in; client mode on local masters only):");
    String[][] rows = {
      {"--master MASTER_URL", "local[*] (default); other masters are rejected"},
      {"--deploy-mode DEPLOY_MODE", "client (cluster is rejected)"},
      {"--class CLASS_NAME", "Your application's main class"},
      {"--name NAME", "A name of your application"},
      {"--jars JARS", "Comma-separated jars for the driver class path"},
      {"--packages PACKAGES", "Maven coordinates, resolved offline from the Ivy jars dir"},
      {"--conf, -c PROP=VALUE", "Arbitrary Spark configuration property"},
      {"--properties-file FILE", "Default: conf/spark-defaults.conf"},
      {"--driver-memory MEM", "Memory for the driver (e.g. 1000M, 2G) (Default: 1024M)"},
      {"--driver-java-options", "Extra Java options to pass to the driver"},
      {"--driver-library-path", "Extra library path entries to pass to the driver"},
      {"--driver-class-path", "Extra class path entries to pass to the driver"},
      {"--proxy-user NAME", "User to impersonate (recorded only)"},
      {"--help, -h", "Show this help message and exit"},
      {"--verbose, -v", "Print additional debug output"},
      {"--version", "Print the version of current Spark"},
    };
    for (String[] r : rows) {
      out.println(String.format("  %-28s%s", r[0], r[1]));
    }
    out.flush();
    System.exit(exitCode);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Parsed arguments:\n");
    String[][] rows = {
      {"master", master}, {"remote", remote}, {"deployMode", deployMode},
      {"driverMemory", driverMemory}, {"driverExtraClassPath", driverExtraClassPath},
      {"driverExtraLibraryPath", driverExtraLibraryPath},
      {"driverExtraJavaOptions", driverExtraJavaOptions}, {"propertiesFile", propertiesFile},
      {"mainClass", mainClass}, {"primaryResource", primaryResource}, {"name", name},
      {"childArgs", "[" + String.join(" ", childArgs) + "]"}, {"jars", jars},
      {"packages", packages}, {"proxyUser", proxyUser}, {"verbose", String.valueOf(verbose)},
    };
    for (String[] r : rows) {
      sb.append(String.format("  %-24s%s%n", r[0], r[1]));
    }
    sb.append("\nSpark properties used, including those specified through\n --conf and those from the properties file:\n");
    for (Map.Entry<String, String> e : sparkProperties.entrySet()) {
      sb.append("  (").append(e.getKey()).append(',').append(e.getValue()).append(")\n");
    }
    return sb.toString();
  }
}
