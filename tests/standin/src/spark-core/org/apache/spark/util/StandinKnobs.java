package org.apache.spark.util;

import java.io.IOException;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.apache.spark.SparkConf;
import org.apache.spark.internal.StandinLog;

/**
 * Fault-injection knobs of the stand-in (not part of real Spark). Each knob is a conf key
 * spark.standin.* (from --conf / spark-defaults / system properties) or the matching
 * environment variable (dots to underscores, upper case: spark.standin.startup.delay.ms is
 * SPARK_STANDIN_STARTUP_DELAY_MS). The conf wins over the environment.
 */
public final class StandinKnobs {
  public static final String STARTUP_DELAY_MS = "spark.standin.startup.delay.ms";
  public static final String STARTUP_FAULT = "spark.standin.startup.fault";
  public static final String SERVING_FAULT = "spark.standin.serving.fault";
  public static final String SERVING_FAULT_AFTER_MS = "spark.standin.serving.fault.after.ms";
  public static final String EXIT_CODE = "spark.standin.fault.exit.code";
  public static final String BIND_ADDRESS = "spark.standin.bind.address";
  /**
   * Sleep this long between assigning the gRPC server object and starting it: Spark assigns
   * `server` before `server.start()`, so localPort then throws gRPC's
   * IllegalStateException("Not started") rather than the AssertionError of "no server yet".
   */
  public static final String BIND_WINDOW_MS = "spark.standin.bind.window.ms";
  /** "nanos": listActiveExecutions' Left carries System.nanoTime() instead of epoch ms. */
  public static final String LIST_CLOCK = "spark.standin.list.clock";
  /**
   * After a successful bind, spawn this many children through ProcessBuilder (one at a time):
   * each starts a background `sleep` (the grandchild) and exits 7 soon, as a pyspark daemon
   * that dies leaves its workers. The grandchild is re-parented to the nearest subreaper or
   * PID 1; Process.waitFor() must still see 7.
   */
  public static final String ORPHANS = "spark.standin.orphans";
  /** How long each orphaned grandchild lives (default 1000). */
  public static final String ORPHAN_LIFE_MS = "spark.standin.orphan.life.ms";

  private static final StandinLog LOG = StandinLog.get("StandinKnobs");

  private StandinKnobs() {}

  public static String envName(String key) {
    return key.replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
  }

  public static String get(SparkConf conf, String key) {
    String v = conf != null ? conf.get(key, null) : null;
    if (v == null) {
      v = System.getProperty(key);
    }
    if (v == null) {
      v = System.getenv(envName(key));
    }
    return v == null || v.trim().isEmpty() ? null : v.trim();
  }

  public static long getLong(SparkConf conf, String key, long dflt) {
    String v = get(conf, key);
    return v == null ? dflt : Long.parseLong(v);
  }

  /** The BIND_WINDOW_MS pause, on the starting thread. */
  public static void bindWindow(SparkConf conf) {
    long ms = getLong(conf, BIND_WINDOW_MS, 0);
    if (ms > 0) {
      LOG.info("standin: server created, starting it in " + ms + " ms");
      sleep(ms);
    }
  }

  /** Startup delay, then the startup fault if one is configured. Runs on the caller's thread. */
  public static void beforeBind(SparkConf conf) {
    long delay = getLong(conf, STARTUP_DELAY_MS, 0);
    if (delay > 0) {
      LOG.info("standin: delaying startup by " + delay + " ms");
      sleep(delay);
    }
    String fault = get(conf, STARTUP_FAULT);
    if (fault != null) {
      inject(conf, fault, "startup");
    }
  }

  /**
   * Arms the serving fault, if configured, on a daemon timer thread. The "exception" fault is
   * handed to onException: the Connect service terminates its gRPC server, and
   * SparkConnectServer's main then stops the service and the session and returns normally, as
   * real Spark's does when its server terminates; the other faults act on the timer thread.
   */
  public static void afterBind(SparkConf conf, Consumer<RuntimeException> onException) {
    spawnOrphans(conf);
    String fault = get(conf, SERVING_FAULT);
    if (fault == null) {
      return;
    }
    long after = getLong(conf, SERVING_FAULT_AFTER_MS, 0);
    Thread t = new Thread(() -> {
      sleep(after);
      try {
        inject(conf, fault, "serving");
      } catch (IllegalStateException e) {
        onException.accept(e);
      }
    }, "standin-serving-fault");
    t.setDaemon(true);
    t.start();
  }

  /**
   * The ORPHANS knob, on a daemon thread. Logs, per child:
   * "standin: orphan maker exited N, left pid P" (N from Process.waitFor(); P as the child's
   * shell saw it, i.e. in its PID namespace).
   */
  private static void spawnOrphans(SparkConf conf) {
    long n = getLong(conf, ORPHANS, 0);
    if (n <= 0) {
      return;
    }
    double life = getLong(conf, ORPHAN_LIFE_MS, 1000) / 1000.0;
    Thread t = new Thread(() -> {
      for (long i = 0; i < n; i++) {
        try {
          // Started on a thread that ends before the child does (as a pool
          // thread may): the kernel then hands the child to the process's
          // main thread, where a reaper must still leave its status to Java.
          ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c",
              "sleep " + life + " </dev/null >/dev/null 2>&1 & echo $!; sleep 0.2; exit 7")
              .redirectErrorStream(true);
          Process[] box = new Process[1];
          IOException[] failed = new IOException[1];
          Thread spawner = new Thread(() -> {
            try {
              box[0] = pb.start();
            } catch (IOException e) {
              failed[0] = e;
            }
          }, "standin-orphan-spawner");
          spawner.start();
          spawner.join();
          if (failed[0] != null) {
            throw failed[0];
          }
          Process p = box[0];
          String pid = new String(p.getInputStream().readAllBytes()).trim();
          int code = p.waitFor();
          LOG.info("standin: orphan maker exited " + code + ", left pid " + pid);
        } catch (Exception e) {
          LOG.error("standin: cannot spawn the orphan maker", e);
          return;
        }
      }
    }, "standin-orphans");
    t.setDaemon(true);
    t.start();
  }

  private static void inject(SparkConf conf, String fault, String phase) {
    int code = (int) getLong(conf, EXIT_CODE, 1);
    LOG.warn("standin: injecting " + phase + " fault '" + fault + "'");
    switch (fault.toLowerCase(Locale.ROOT)) {
      case "segv":
        segv();
        break;
      case "oom":
        oom();
        break;
      case "exit":
        System.exit(code);
        break;
      case "halt":
        Runtime.getRuntime().halt(code);
        break;
      case "exception":
        throw new IllegalStateException("standin: injected " + phase + " failure");
      default:
        throw new IllegalArgumentException("standin: unknown fault '" + fault
            + "' (expected segv, oom, exit, halt or exception)");
    }
  }

  /** Writes to address 0 through sun.misc.Unsafe: the JVM dies with SIGSEGV. */
  public static void segv() {
    try {
      Field f = Class.forName("sun.misc.Unsafe").getDeclaredField("theUnsafe");
      f.setAccessible(true);
      Object unsafe = f.get(null);
      unsafe.getClass().getMethod("putAddress", long.class, long.class).invoke(unsafe, 0L, 0L);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("standin: cannot reach sun.misc.Unsafe", e);
    }
  }

  /** Fills the heap until the JVM throws OutOfMemoryError: Java heap space. */
  public static void oom() {
    List<long[]> hog = new ArrayList<>();
    while (true) {
      hog.add(new long[16 << 20]);
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
