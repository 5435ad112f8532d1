package org.apache.spark.internal;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Properties;

/**
 * Console logger writing Spark's default log4j2 layout to stderr:
 * {@code yy/MM/dd HH:mm:ss LEVEL Logger: message}. The root level comes from a
 * log4j2.properties found on the class path (rootLogger.level), else INFO, and can be changed
 * with SparkContext.setLogLevel.
 */
public final class StandinLog {
  private static final String[] NAMES = {"OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"};
  private static final int ERROR = 2;
  private static final int WARN = 3;
  private static final int INFO = 4;
  private static final int DEBUG = 5;
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yy/MM/dd HH:mm:ss");
  private static volatile int rootLevel = init();
  /** Levels set for single loggers (log4j's Configurator.setLevel), by short name. */
  private static final java.util.Map<String, Integer> LOGGER_LEVELS =
      new java.util.concurrent.ConcurrentHashMap<>();

  private final String name;

  private StandinLog(String name) {
    this.name = name;
  }

  public static StandinLog get(String loggerName) {
    return new StandinLog(loggerName);
  }

  public static StandinLog get(Class<?> cls) {
    String n = cls.getSimpleName();
    return new StandinLog(n.endsWith("$") ? n.substring(0, n.length() - 1) : n);
  }

  private static int init() {
    ClassLoader cl = StandinLog.class.getClassLoader();
    try (InputStream in = cl.getResourceAsStream("log4j2.properties")) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        int lvl = indexOf(p.getProperty("rootLogger.level", "info").trim());
        return lvl < 0 ? INFO : lvl;
      }
    } catch (java.io.IOException e) {
      // use the defaults
    }
    System.err.println(
        "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties");
    return INFO;
  }

  private static int indexOf(String level) {
    String up = level.toUpperCase(Locale.ROOT);
    for (int i = 0; i < NAMES.length; i++) {
      if (NAMES[i].equals(up)) {
        return i;
      }
    }
    return -1;
  }

  /** Sets the root level; false when the name is not a level. */
  public static boolean setRootLevel(String level) {
    int lvl = indexOf(level);
    if (lvl < 0) {
      return false;
    }
    rootLevel = lvl;
    return true;
  }

  /** Sets one logger's level (log4j's Configurator.setLevel); false for a bad level. */
  public static boolean setLoggerLevel(String loggerName, String level) {
    int lvl = indexOf(level);
    if (lvl < 0) {
      return false;
    }
    int dot = loggerName.lastIndexOf('.');
    LOGGER_LEVELS.put(dot < 0 ? loggerName : loggerName.substring(dot + 1), lvl);
    return true;
  }

  public static String rootLevel() {
    return NAMES[rootLevel];
  }

  public void debug(String msg) {
    log(DEBUG, msg, null);
  }

  public void info(String msg) {
    log(INFO, msg, null);
  }

  public void warn(String msg) {
    log(WARN, msg, null);
  }

  public void warn(String msg, Throwable t) {
    log(WARN, msg, t);
  }

  public void error(String msg) {
    log(ERROR, msg, null);
  }

  public void error(String msg, Throwable t) {
    log(ERROR, msg, t);
  }

  private void log(int level, String msg, Throwable t) {
    if (level > LOGGER_LEVELS.getOrDefault(name, rootLevel)) {
      return;
    }
    PrintStream err = System.err;
    synchronized (err) {
      err.println(LocalDateTime.now().format(TIME) + " " + NAMES[level] + " " + name + ": " + msg);
      if (t != null) {
        t.printStackTrace(err);
      }
      err.flush();
    }
  }
}
