package org.apache.spark.launcher;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Turns spark-submit arguments into the driver JVM command line: picks the driver settings
 * (memory, java options, class path, library path) out of the arguments and the properties
 * file, and passes everything else through to org.apache.spark.deploy.SparkSubmit.
 */
class SparkSubmitCommandBuilder {
  static final String NO_RESOURCE = "spark-internal";
  static final String DEFAULT_MEM = "1g";
  static final String CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer";
  static final String THRIFT_SERVER = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2";

  static final String DRIVER_MEMORY = "spark.driver.memory";
  static final String DRIVER_EXTRA_CLASSPATH = "spark.driver.extraClassPath";
  static final String DRIVER_DEFAULT_EXTRA_CLASS_PATH = "spark.driver.defaultExtraClassPath";
  static final String DRIVER_DEFAULT_EXTRA_CLASS_PATH_VALUE = "hive-jackson/*";
  static final String DRIVER_EXTRA_JAVA_OPTIONS = "spark.driver.extraJavaOptions";
  static final String DRIVER_DEFAULT_JAVA_OPTIONS = "spark.driver.defaultJavaOptions";
  static final String DRIVER_EXTRA_LIBRARY_PATH = "spark.driver.extraLibraryPath";

  /** Main classes whose unknown arguments are application arguments, with their resource. */
  private static final Map<String, String> SPECIAL_CLASSES = new HashMap<>();

  static {
    SPECIAL_CLASSES.put("org.apache.spark.repl.Main", "spark-shell");
    SPECIAL_CLASSES.put("org.apache.spark.sql.hive.thriftserver.SparkSQLCLIDriver", NO_RESOURCE);
    SPECIAL_CLASSES.put(THRIFT_SERVER, NO_RESOURCE);
    SPECIAL_CLASSES.put(CONNECT_SERVER, NO_RESOURCE);
  }

  private final Map<String, String> conf = new HashMap<>();
  private final List<String> parsedArgs = new ArrayList<>();
  private final List<String> appArgs = new ArrayList<>();
  private String master;
  private String remote;
  private String deployMode;
  private String propertiesFile;
  private boolean loadSparkDefaults;
  private String mainClass;
  private String appResource;
  private boolean allowsMixedArguments;
  private boolean specialCommand;
  private Map<String, String> effectiveConfig;

  SparkSubmitCommandBuilder(List<String> args) {
    specialCommand = args.isEmpty();
    new Parser().parse(args);
  }

  List<String> buildCommand(Map<String, String> env) throws IOException {
    Map<String, String> config = effectiveConfig();
    boolean clientMode = isClientMode(config);
    String extraCp = clientMode ? config.get(DRIVER_EXTRA_CLASSPATH) : null;
    String defaultCp = config.get(DRIVER_DEFAULT_EXTRA_CLASS_PATH);
    if (extraCp == null || extraCp.trim().isEmpty()) {
      extraCp = defaultCp;
    } else if (defaultCp != null) {
      extraCp = extraCp + File.pathSeparator + defaultCp;
    }

    List<String> cmd = javaCommand(extraCp);
    boolean daemon = CONNECT_SERVER.equals(mainClass) || THRIFT_SERVER.equals(mainClass);
    if (daemon) {
      addOptionString(cmd, System.getenv("SPARK_DAEMON_JAVA_OPTS"));
    }
    addOptionString(cmd, System.getenv("SPARK_SUBMIT_OPTS"));

    String defaultOpts = config.get(DRIVER_DEFAULT_JAVA_OPTIONS);
    checkJavaOptions(defaultOpts);
    String extraOpts = config.get(DRIVER_EXTRA_JAVA_OPTIONS);
    checkJavaOptions(extraOpts);

    if (clientMode) {
      String memory = firstNonEmpty(daemon ? System.getenv("SPARK_DAEMON_MEMORY") : null,
          config.get(DRIVER_MEMORY), System.getenv("SPARK_DRIVER_MEMORY"),
          System.getenv("SPARK_MEM"), DEFAULT_MEM);
      cmd.add("-Xmx" + memory);
      addOptionString(cmd, defaultOpts);
      addOptionString(cmd, extraOpts);
      mergeEnvPath(env, "LD_LIBRARY_PATH", config.get(DRIVER_EXTRA_LIBRARY_PATH));
    }
    cmd.addAll(Arrays.asList(JavaModuleOptions.defaultModuleOptionArray()));
    cmd.add("-Dderby.connection.requireAuthentication=false");
    cmd.add("org.apache.spark.deploy.SparkSubmit");
    cmd.addAll(submitArgs());
    return cmd;
  }

  /** The arguments handed to SparkSubmit, normalised the way the real launcher does it. */
  private List<String> submitArgs() {
    if (!allowsMixedArguments && !specialCommand && appResource == null) {
      throw new IllegalArgumentException("Missing application resource.");
    }
    List<String> args = new ArrayList<>();
    if (master != null) {
      args.add(SparkSubmitOptionParser.MASTER);
      args.add(master);
    }
    if (remote != null) {
      args.add(SparkSubmitOptionParser.REMOTE);
      args.add(remote);
    }
    if (deployMode != null) {
      args.add(SparkSubmitOptionParser.DEPLOY_MODE);
      args.add(deployMode);
    }
    for (Map.Entry<String, String> e : conf.entrySet()) {
      args.add(SparkSubmitOptionParser.CONF);
      args.add(e.getKey() + "=" + e.getValue());
    }
    if (propertiesFile != null) {
      args.add(SparkSubmitOptionParser.PROPERTIES_FILE);
      args.add(propertiesFile);
    }
    if (loadSparkDefaults) {
      args.add(SparkSubmitOptionParser.LOAD_SPARK_DEFAULTS);
    }
    if (mainClass != null) {
      args.add(SparkSubmitOptionParser.CLASS);
      args.add(mainClass);
    }
    args.addAll(parsedArgs);
    if (appResource != null) {
      args.add(appResource);
    }
    args.addAll(appArgs);
    return args;
  }

  private List<String> javaCommand(String extraClassPath) throws IOException {
    List<String> cmd = new ArrayList<>();
    String javaHome = firstNonEmpty(System.getenv("JAVA_HOME"), System.getProperty("java.home"));
    cmd.add(String.join(File.separator, javaHome, "bin", "java"));
    File javaOpts = new File(confDir(), "java-opts");
    if (javaOpts.isFile()) {
      for (String line : Files.readAllLines(javaOpts.toPath(), StandardCharsets.UTF_8)) {
        addOptionString(cmd, line.trim());
      }
    }
    cmd.add("-cp");
    cmd.add(String.join(File.pathSeparator, classPath(extraClassPath)));
    return cmd;
  }

  private List<String> classPath(String extraClassPath) {
    Set<String> cp = new LinkedHashSet<>();
    addToClassPath(cp, extraClassPath);
    addToClassPath(cp, confDir());
    File jarsDir = jarsDir();
    File[] slf4j = jarsDir.listFiles((d, n) -> n.startsWith("slf4j-api-"));
    if (slf4j != null) {
      for (File f : slf4j) {
        addToClassPath(cp, f.toString());
      }
    }
    addToClassPath(cp, jarsDir + File.separator + "*");
    addToClassPath(cp, System.getenv("HADOOP_CONF_DIR"));
    addToClassPath(cp, System.getenv("YARN_CONF_DIR"));
    addToClassPath(cp, System.getenv("SPARK_DIST_CLASSPATH"));
    return new ArrayList<>(cp);
  }

  private static void addToClassPath(Set<String> cp, String entries) {
    if (isEmpty(entries)) {
      return;
    }
    for (String entry : entries.split(File.pathSeparator)) {
      if (isEmpty(entry)) {
        continue;
      }
      if (new File(entry).isDirectory() && !entry.endsWith(File.separator)) {
        entry += File.separator;
      }
      cp.add(entry);
    }
  }

  static String sparkHome() {
    String home = firstNonEmpty(System.getenv("SPARK_HOME"), System.getProperty("spark.test.home"));
    if (home == null) {
      throw new IllegalStateException(
          "Spark home not found; set it explicitly or use the SPARK_HOME environment variable.");
    }
    return home;
  }

  private static String confDir() {
    String dir = System.getenv("SPARK_CONF_DIR");
    return dir != null ? dir : sparkHome() + File.separator + "conf";
  }

  private static File jarsDir() {
    String home = sparkHome();
    File dir = new File(home, "RELEASE").isFile()
        ? new File(home, "jars")
        : new File(home, "assembly/target/scala-" + scalaVersion() + "/jars");
    if (!dir.isDirectory()) {
      throw new IllegalStateException(String.format(
          "Library directory '%s' does not exist; make sure Spark is built.", dir));
    }
    return dir;
  }

  private static String scalaVersion() {
    String v = System.getenv("SPARK_SCALA_VERSION");
    return v != null ? v : (LauncherVersion.major() >= 4 ? "2.13" : "2.12");
  }

  private Map<String, String> effectiveConfig() throws IOException {
    if (effectiveConfig == null) {
      effectiveConfig = new HashMap<>(conf);
      Properties p = loadPropertiesFile();
      for (String key : p.stringPropertyNames()) {
        effectiveConfig.putIfAbsent(key, p.getProperty(key));
      }
      File defaults = new File(confDir(), "spark-defaults.conf");
      if (propertiesFile != null && loadSparkDefaults && defaults.isFile()) {
        Properties d = new Properties();
        try (InputStreamReader r =
            new InputStreamReader(new FileInputStream(defaults), StandardCharsets.UTF_8)) {
          d.load(r);
        }
        for (String key : d.stringPropertyNames()) {
          effectiveConfig.putIfAbsent(key, d.getProperty(key).trim());
        }
      }
      if (LauncherVersion.major() >= 4) {
        effectiveConfig.putIfAbsent(
            DRIVER_DEFAULT_EXTRA_CLASS_PATH, DRIVER_DEFAULT_EXTRA_CLASS_PATH_VALUE);
      }
    }
    return effectiveConfig;
  }

  private Properties loadPropertiesFile() throws IOException {
    Properties props = new Properties();
    File file;
    if (propertiesFile != null) {
      file = new File(propertiesFile);
      if (!file.isFile()) {
        throw new IllegalArgumentException(
            String.format("Invalid properties file '%s'.", propertiesFile));
      }
    } else {
      file = new File(confDir(), "spark-defaults.conf");
    }
    if (file.isFile()) {
      try (InputStreamReader r =
          new InputStreamReader(new FileInputStream(file), StandardCharsets.UTF_8)) {
        props.load(r);
      }
      for (String key : props.stringPropertyNames()) {
        props.setProperty(key, props.getProperty(key).trim());
      }
    }
    return props;
  }

  private boolean isClientMode(Map<String, String> config) {
    String userMaster = firstNonEmpty(master, config.get("spark.master"));
    String userDeployMode = firstNonEmpty(deployMode, config.get("spark.submit.deployMode"));
    return userMaster == null || userDeployMode == null || "client".equals(userDeployMode);
  }

  private static void checkJavaOptions(String opts) {
    if (!isEmpty(opts)) {
      for (String o : parseOptionString(opts)) {
        if (o.startsWith("-Xmx")) {
          throw new IllegalArgumentException(String.format(
              "Not allowed to specify max heap(Xmx) memory settings through java options "
                  + "(was %s). Use the corresponding --driver-memory or spark.driver.memory "
                  + "configuration instead.", opts));
        }
      }
    }
  }

  private static void mergeEnvPath(Map<String, String> env, String name, String extra) {
    if (isEmpty(extra)) {
      return;
    }
    String current = firstNonEmpty(env.get(name), System.getenv(name));
    env.put(name, isEmpty(current) ? extra : extra + File.pathSeparator + current);
  }

  private static void addOptionString(List<String> cmd, String options) {
    if (!isEmpty(options)) {
      cmd.addAll(parseOptionString(options));
    }
  }

  /** Splits a string of JVM options like a shell would: whitespace, quotes and backslashes. */
  static List<String> parseOptionString(String s) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean inWord = false;
    char quote = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        } else if (c == '\\' && quote == '"' && i + 1 < s.length()) {
          cur.append(s.charAt(++i));
        } else {
          cur.append(c);
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
        inWord = true;
      } else if (c == '\\' && i + 1 < s.length()) {
        cur.append(s.charAt(++i));
        inWord = true;
      } else if (Character.isWhitespace(c)) {
        if (inWord) {
          out.add(cur.toString());
          cur.setLength(0);
          inWord = false;
        }
      } else {
        cur.append(c);
        inWord = true;
      }
    }
    if (quote != 0) {
      throw new IllegalArgumentException("Invalid option string: " + s);
    }
    if (inWord) {
      out.add(cur.toString());
    }
    return out;
  }

  static String firstNonEmpty(String... candidates) {
    for (String c : candidates) {
      if (!isEmpty(c)) {
        return c;
      }
    }
    return null;
  }

  static boolean isEmpty(String s) {
    return s == null || s.isEmpty();
  }

  private final class Parser extends SparkSubmitOptionParser {
    @Override
    protected boolean handle(String opt, String value) {
      switch (opt) {
        case MASTER:
          master = value;
          break;
        case REMOTE:
          remote = value;
          break;
        case DEPLOY_MODE:
          deployMode = value;
          break;
        case PROPERTIES_FILE:
          propertiesFile = value;
          break;
        case DRIVER_MEMORY:
          conf.put(SparkSubmitCommandBuilder.DRIVER_MEMORY, value);
          break;
        case DRIVER_JAVA_OPTIONS:
          conf.put(DRIVER_EXTRA_JAVA_OPTIONS, value);
          break;
        case DRIVER_LIBRARY_PATH:
          conf.put(DRIVER_EXTRA_LIBRARY_PATH, value);
          break;
        case DRIVER_CLASS_PATH:
          conf.put(DRIVER_EXTRA_CLASSPATH, value);
          break;
        case DRIVER_DEFAULT_CLASS_PATH:
          conf.put(DRIVER_DEFAULT_EXTRA_CLASS_PATH, value);
          break;
        case LOAD_SPARK_DEFAULTS:
          loadSparkDefaults = true;
          break;
        case CONF:
          String[] kv = value.split("=", 2);
          if (kv.length != 2) {
            throw new IllegalArgumentException(
                String.format("Invalid argument to %s: %s", CONF, value));
          }
          conf.put(kv[0], kv[1]);
          break;
        case CLASS:
          mainClass = value;
          if (SPECIAL_CLASSES.containsKey(value)) {
            allowsMixedArguments = true;
            appResource = SPECIAL_CLASSES.get(value);
          }
          break;
        case HELP:
        case USAGE_ERROR:
        case VERSION:
        case KILL_SUBMISSION:
        case STATUS:
          specialCommand = true;
          parsedArgs.add(opt);
          if (value != null) {
            parsedArgs.add(value);
          }
          break;
        default:
          parsedArgs.add(opt);
          if (value != null) {
            parsedArgs.add(value);
          }
      }
      return true;
    }

    @Override
    protected boolean handleUnknown(String opt) {
      if (allowsMixedArguments) {
        appArgs.add(opt);
        return true;
      }
      if (opt.startsWith("-")) {
        throw new IllegalArgumentException(String.format("Unrecognized option: %s", opt));
      }
      if (appResource != null) {
        throw new IllegalStateException("Found unrecognized argument but resource is already set.");
      }
      appResource = opt;
      return false;
    }

    @Override
    protected void handleExtraArgs(List<String> extra) {
      appArgs.addAll(extra);
    }
  }
}
