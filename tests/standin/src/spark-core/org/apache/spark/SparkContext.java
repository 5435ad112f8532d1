package org.apache.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.ui.SparkUI;
import org.apache.spark.util.Utils;
import scala.Option;

/**
 * Stand-in SparkContext: one active context per JVM, local masters only, no scheduler. It
 * starts the driver components of spark.plugins and stops them (also from a JVM shutdown
 * hook), which is all a Spark Connect server needs from it.
 */
public class SparkContext {
  static final List<String> VALID_LOG_LEVELS =
      Arrays.asList("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN");
  private static final StandinLog LOG = StandinLog.get("SparkContext");
  private static final Object ACTIVE_LOCK = new Object();
  private static volatile SparkContext active;
  private static boolean hookInstalled;

  private final SparkConf conf;
  private final long startTime = System.currentTimeMillis();
  private final String applicationId;
  private final AtomicBoolean stopped = new AtomicBoolean(false);
  private final List<DriverPlugin> driverPlugins = new ArrayList<>();

  private volatile SparkUI ui;

  public SparkContext() {
    this(new SparkConf());
  }

  public SparkContext(SparkConf config) {
    synchronized (ACTIVE_LOCK) {
      if (active != null) {
        throw Utils.rethrow(new SparkException(
            "Only one SparkContext should be running in this JVM (see SPARK-2243). "
                + "The currently running SparkContext was created at: " + active.startTime));
      }
      String version = package$.MODULE$.SPARK_VERSION();
      LOG.info("Running Spark version " + version);
      LOG.info("OS info " + System.getProperty("os.name") + ", "
          + System.getProperty("os.version") + ", " + System.getProperty("os.arch"));
      LOG.info("Java version " + System.getProperty("java.version"));
      this.conf = config.clone();
      if (!conf.contains("spark.master")) {
        throw Utils.rethrow(new SparkException("A master URL must be set in your configuration"));
      }
      if (!conf.contains("spark.app.name")) {
        throw Utils.rethrow(
            new SparkException("An application name must be set in your configuration"));
      }
      String master = conf.get("spark.master");
      if (!master.startsWith("local")) {
        throw Utils.rethrow(new SparkException(
            "Could not parse Master URL: '" + master + "' (the stand-in runs local masters only)"));
      }
      LOG.info("Submitted application: " + appName());
      applicationId = "local-" + startTime;
      conf.set("spark.app.id", applicationId);
      conf.setIfMissing("spark.app.startTime", Long.toString(startTime));
      conf.setIfMissing("spark.driver.host", Utils.localHostName());
      if (conf.getBoolean("spark.ui.enabled", true)) {
        // As Spark: the UI binds before the context's shutdown hook exists; when it cannot,
        // WebUI.bind exits the JVM with 1.
        ui = SparkUI.bind(conf);
        ui.logBound(uiWebUrl().get());
      }
      active = this;
      installShutdownHook();
    }
    try {
      startPlugins();
    } catch (RuntimeException | Error e) {
      LOG.error("Error initializing SparkContext.", e);
      stop();
      throw e;
    }
  }

  private void startPlugins() {
    String names = conf.get("spark.plugins", "");
    if (names.trim().isEmpty()) {
      return;
    }
    ClassLoader loader = Thread.currentThread().getContextClassLoader();
    if (loader == null) {
      loader = SparkContext.class.getClassLoader();
    }
    PluginContext ctx = new PluginContext() {
      @Override
      public SparkConf conf() {
        return conf;
      }

      @Override
      public String executorID() {
        return "driver";
      }

      @Override
      public String hostname() {
        return conf.get("spark.driver.host", "localhost");
      }
    };
    for (String raw : names.split(",")) {
      String name = raw.trim();
      if (name.isEmpty()) {
        continue;
      }
      SparkPlugin plugin;
      try {
        plugin = (SparkPlugin) Class.forName(name, true, loader)
            .getDeclaredConstructor().newInstance();
      } catch (ReflectiveOperationException e) {
        throw new IllegalArgumentException("Failed to load plugin " + name, e);
      }
      DriverPlugin driver = plugin.driverPlugin();
      if (driver != null) {
        driver.init(this, ctx);
        driverPlugins.add(driver);
        StandinLog.get("DriverPluginContainer")
            .info("Initialized driver component for plugin " + name + ".");
      }
    }
  }

  private static void installShutdownHook() {
    if (hookInstalled) {
      return;
    }
    hookInstalled = true;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      // No lock: a System.exit during the constructor (the UI's failed bind) runs this hook
      // while getOrCreate holds ACTIVE_LOCK; Spark's own hook is not registered that early.
      SparkContext sc = active;
      if (sc != null) {
        LOG.info("Invoking stop() from shutdown hook");
        try {
          sc.stop();
        } catch (Throwable t) {
          LOG.warn("Ignoring Exception while stopping SparkContext from shutdown hook", t);
        }
      }
      StandinLog.get("ShutdownHookManager").info("Shutdown hook called");
    }, "shutdown-hook-0"));
  }

  // ---- companion object (SparkContext$) static forwarders ----

  public static SparkContext getOrCreate() {
    return SparkContext$.MODULE$.getOrCreate();
  }

  public static SparkContext getOrCreate(SparkConf config) {
    return SparkContext$.MODULE$.getOrCreate(config);
  }

  public static Option<SparkContext> getActive() {
    return SparkContext$.MODULE$.getActive();
  }

  static SparkContext activeContext() {
    synchronized (ACTIVE_LOCK) {
      return active;
    }
  }

  static SparkContext getOrCreateImpl(SparkConf config) {
    synchronized (ACTIVE_LOCK) {
      if (active != null) {
        return active;
      }
      return new SparkContext(config);
    }
  }

  // ---- instance API ----

  public String applicationId() {
    return applicationId;
  }

  public scala.Option<String> applicationAttemptId() {
    return Option.empty();
  }

  public String version() {
    return package$.MODULE$.SPARK_VERSION();
  }

  public String appName() {
    return conf.get("spark.app.name");
  }

  public String master() {
    return conf.get("spark.master");
  }

  public String deployMode() {
    return conf.get("spark.submit.deployMode", "client");
  }

  public boolean isLocal() {
    return master().startsWith("local");
  }

  public long startTime() {
    return startTime;
  }

  public String sparkUser() {
    return Utils.getCurrentUserName();
  }

  public SparkConf getConf() {
    return conf.clone();
  }

  /** The live configuration (private[spark] in Spark, public in bytecode). */
  public SparkConf conf() {
    return conf;
  }

  /** The UI address, with the port the UI bound (SparkUI). */
  public scala.Option<String> uiWebUrl() {
    SparkUI u = ui;
    if (u == null) {
      return Option.empty();
    }
    String host = System.getenv("SPARK_PUBLIC_DNS");
    if (host == null || host.isEmpty()) {
      host = conf.get("spark.driver.host", Utils.localHostName());
    }
    return Option.apply("http://" + host + ":" + u.boundPort());
  }

  public void setLogLevel(String logLevel) {
    String upper = logLevel.toUpperCase(Locale.ROOT);
    if (!VALID_LOG_LEVELS.contains(upper)) {
      throw new IllegalArgumentException("requirement failed: Supplied level " + logLevel
          + " did not match one of: " + String.join(",", VALID_LOG_LEVELS));
    }
    StandinLog.setRootLevel(upper);
  }

  public boolean isStopped() {
    return stopped.get();
  }

  public void stop() {
    stop(0);
  }

  public void stop(int exitCode) {
    if (!stopped.compareAndSet(false, true)) {
      LOG.info("SparkContext already stopped.");
      return;
    }
    LOG.info("SparkContext is stopping with exitCode " + exitCode + ".");
    SparkUI u = ui;
    if (u != null) {
      u.stop();
    }
    for (DriverPlugin p : driverPlugins) {
      try {
        p.shutdown();
      } catch (Throwable t) {
        LOG.warn("Exception while shutting down plugin.", t);
      }
    }
    synchronized (ACTIVE_LOCK) {
      if (active == this) {
        active = null;
      }
    }
    LOG.info("Successfully stopped SparkContext");
  }

  @Override
  public String toString() {
    return "SparkContext(" + applicationId + ")";
  }
}
