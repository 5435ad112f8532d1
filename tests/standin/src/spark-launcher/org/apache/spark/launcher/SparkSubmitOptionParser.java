package org.apache.spark.launcher;

import java.util.List;

/**
 * spark-submit's option table and its parsing loop, shared by the launcher (which only needs to
 * pick out driver-side settings) and by SparkSubmit (which interprets everything).
 */
public abstract class SparkSubmitOptionParser {
  public static final String CLASS = "--class";
  public static final String CONF = "--conf";
  public static final String DEPLOY_MODE = "--deploy-mode";
  public static final String DRIVER_CLASS_PATH = "--driver-class-path";
  public static final String DRIVER_CORES = "--driver-cores";
  public static final String DRIVER_JAVA_OPTIONS = "--driver-java-options";
  public static final String DRIVER_LIBRARY_PATH = "--driver-library-path";
  public static final String DRIVER_MEMORY = "--driver-memory";
  public static final String EXECUTOR_MEMORY = "--executor-memory";
  public static final String FILES = "--files";
  public static final String ARCHIVES = "--archives";
  public static final String JARS = "--jars";
  public static final String KILL_SUBMISSION = "--kill";
  public static final String MASTER = "--master";
  public static final String REMOTE = "--remote";
  public static final String NAME = "--name";
  public static final String PACKAGES = "--packages";
  public static final String PACKAGES_EXCLUDE = "--exclude-packages";
  public static final String PROPERTIES_FILE = "--properties-file";
  public static final String PROXY_USER = "--proxy-user";
  public static final String PY_FILES = "--py-files";
  public static final String REPOSITORIES = "--repositories";
  public static final String STATUS = "--status";
  public static final String TOTAL_EXECUTOR_CORES = "--total-executor-cores";
  public static final String EXECUTOR_CORES = "--executor-cores";
  public static final String NUM_EXECUTORS = "--num-executors";
  public static final String QUEUE = "--queue";
  public static final String PRINCIPAL = "--principal";
  public static final String KEYTAB = "--keytab";
  /** Spark 4.0 and later only. */
  public static final String DRIVER_DEFAULT_CLASS_PATH = "--driver-default-class-path";

  public static final String HELP = "--help";
  public static final String SUPERVISE = "--supervise";
  public static final String USAGE_ERROR = "--usage-error";
  public static final String VERBOSE = "--verbose";
  public static final String VERSION = "--version";
  /** Spark 4.0 and later only. */
  public static final String LOAD_SPARK_DEFAULTS = "--load-spark-defaults";

  /** Options taking a value; the first name of each row is the canonical one. */
  static final String[][] OPTS3 = {
    {ARCHIVES}, {CLASS}, {CONF, "-c"}, {DEPLOY_MODE}, {DRIVER_CLASS_PATH}, {DRIVER_CORES},
    {DRIVER_JAVA_OPTIONS}, {DRIVER_LIBRARY_PATH}, {DRIVER_MEMORY}, {EXECUTOR_CORES},
    {EXECUTOR_MEMORY}, {FILES}, {JARS}, {KEYTAB}, {KILL_SUBMISSION}, {MASTER}, {REMOTE}, {NAME},
    {NUM_EXECUTORS}, {PACKAGES}, {PACKAGES_EXCLUDE}, {PRINCIPAL}, {PROPERTIES_FILE},
    {PROXY_USER}, {PY_FILES}, {QUEUE}, {REPOSITORIES}, {STATUS}, {TOTAL_EXECUTOR_CORES},
  };

  /** Options without a value. */
  static final String[][] SWITCHES3 = {
    {HELP, "-h"}, {SUPERVISE}, {USAGE_ERROR}, {VERBOSE, "-v"}, {VERSION},
  };

  /** The tables of this home's Spark version: 4.0 added two options. */
  static final String[][] OPTS = isSpark4()
      ? concat(OPTS3, new String[][] {{DRIVER_DEFAULT_CLASS_PATH}}) : OPTS3;
  static final String[][] SWITCHES = isSpark4()
      ? concat(SWITCHES3, new String[][] {{LOAD_SPARK_DEFAULTS}}) : SWITCHES3;

  /** Whether this home plays Spark 4.x. */
  protected static boolean isSpark4() {
    return LauncherVersion.major() >= 4;
  }

  private static String[][] concat(String[][] a, String[][] b) {
    String[][] r = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }

  /** Java's '.' in Spark's "(--[^=]+)=(.+)" stops at line terminators. */
  private static boolean hasLineTerminator(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\n' || c == '\r' || c == '\u0085' || c == '\u2028' || c == '\u2029') {
        return true;
      }
    }
    return false;
  }

  /**
   * Walks the arguments. Known options go to {@link #handle}; the first unknown argument goes
   * to {@link #handleUnknown}, and if that returns false the rest go to
   * {@link #handleExtraArgs}.
   */
  protected final void parse(List<String> args) {
    int idx;
    for (idx = 0; idx < args.size(); idx++) {
      String arg = args.get(idx);
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 2 && eq < arg.length() - 1
          && !hasLineTerminator(arg.substring(eq + 1))) {
        value = arg.substring(eq + 1);
        arg = arg.substring(0, eq);
      }
      String name = lookup(OPTS, arg);
      if (name != null) {
        if (value == null) {
          if (idx == args.size() - 1) {
            throw new IllegalArgumentException(
                String.format("Missing argument for option '%s'.", arg));
          }
          value = args.get(++idx);
        }
        if (!handle(name, value)) {
          break;
        }
        continue;
      }
      name = lookup(SWITCHES, arg);
      if (name != null) {
        if (!handle(name, null)) {
          break;
        }
        continue;
      }
      if (!handleUnknown(arg)) {
        break;
      }
    }
    if (idx < args.size()) {
      idx++;
    }
    handleExtraArgs(args.subList(idx, args.size()));
  }

  private static String lookup(String[][] table, String arg) {
    for (String[] row : table) {
      for (String n : row) {
        if (n.equals(arg)) {
          return row[0];
        }
      }
    }
    return null;
  }

  /** @return whether to keep parsing. */
  protected abstract boolean handle(String opt, String value);

  /** @return whether to keep parsing; false hands the remaining args to handleExtraArgs. */
  protected abstract boolean handleUnknown(String opt);

  protected abstract void handleExtraArgs(List<String> extra);
}
