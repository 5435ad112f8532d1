package org.apache.spark.launcher;

import java.io.BufferedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Entry point of bin/spark-class: prints the command that runs the given class, for the shell
 * script to exec. Output on stdout is a line holding a single NUL (separating anything printed
 * before it), then every argument followed by a NUL.
 */
class Main {
  private Main() {}

  public static void main(String[] argsArray) throws Exception {
    if (argsArray.length == 0) {
      throw new IllegalArgumentException("Not enough arguments: missing class name.");
    }
    List<String> args = new ArrayList<>(Arrays.asList(argsArray));
    String className = args.remove(0);
    boolean printLaunchCommand = !SparkSubmitCommandBuilder.isEmpty(
        System.getenv("SPARK_PRINT_LAUNCH_COMMAND"));
    Map<String, String> env = new HashMap<>();
    List<String> cmd;
    if (className.equals("org.apache.spark.deploy.SparkSubmit")) {
      try {
        cmd = new SparkSubmitCommandBuilder(args).buildCommand(env);
      } catch (IllegalArgumentException e) {
        printLaunchCommand = false;
        System.err.println("Error: " + e.getMessage());
        System.err.println();
        List<String> help = new ArrayList<>();
        String mainClass = findMainClass(args);
        if (mainClass != null) {
          help.add(SparkSubmitOptionParser.CLASS);
          help.add(mainClass);
        }
        help.add(SparkSubmitOptionParser.USAGE_ERROR);
        cmd = new SparkSubmitCommandBuilder(help).buildCommand(env);
      }
    } else {
      cmd = classCommand(className, args);
    }
    if (printLaunchCommand) {
      System.err.println("Spark Command: " + String.join(" ", cmd));
      System.err.println("========================================");
    }

    PrintStream out = new PrintStream(
        new BufferedOutputStream(System.out), false, StandardCharsets.UTF_8);
    out.print('\0');
    out.print('\n');
    List<String> full = new ArrayList<>();
    if (!env.isEmpty()) {
      full.add("env");
      for (Map.Entry<String, String> e : env.entrySet()) {
        full.add(e.getKey() + "=" + e.getValue());
      }
    }
    full.addAll(cmd);
    for (String c : full) {
      out.print(c.replaceFirst("\r$", ""));
      out.print('\0');
    }
    out.flush();
  }

  /** Best-effort scan for --class in arguments that failed to parse. */
  private static String findMainClass(List<String> args) {
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals(SparkSubmitOptionParser.CLASS) && i + 1 < args.size()) {
        return args.get(i + 1);
      }
      if (a.startsWith(SparkSubmitOptionParser.CLASS + "=")) {
        return a.substring(SparkSubmitOptionParser.CLASS.length() + 1);
      }
    }
    return null;
  }

  /** Command for spark-class with any class other than SparkSubmit. */
  private static List<String> classCommand(String className, List<String> args) {
    List<String> cmd = new ArrayList<>();
    String javaHome = SparkSubmitCommandBuilder.firstNonEmpty(
        System.getenv("JAVA_HOME"), System.getProperty("java.home"));
    cmd.add(javaHome + "/bin/java");
    cmd.add("-cp");
    String home = SparkSubmitCommandBuilder.sparkHome();
    String conf = SparkSubmitCommandBuilder.firstNonEmpty(
        System.getenv("SPARK_CONF_DIR"), home + "/conf");
    cmd.add(conf + "/:" + home + "/jars/*");
    cmd.addAll(SparkSubmitCommandBuilder.parseOptionString(
        String.valueOf(SparkSubmitCommandBuilder.firstNonEmpty(
            System.getenv("SPARK_JAVA_OPTS"), ""))));
    cmd.add("-Xmx" + SparkSubmitCommandBuilder.firstNonEmpty(
        System.getenv("SPARK_DRIVER_MEMORY"), SparkSubmitCommandBuilder.DEFAULT_MEM));
    cmd.addAll(Arrays.asList(JavaModuleOptions.defaultModuleOptionArray()));
    cmd.add(className);
    cmd.addAll(args);
    return cmd;
  }
}
