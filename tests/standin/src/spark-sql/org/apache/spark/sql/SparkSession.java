package org.apache.spark.sql;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.internal.StandinLog;
import scala.Option;

/**
 * Minimal SparkSession: a SparkContext plus a session-local configuration map. Sessions made
 * by newSession() share the context; stop() stops the context.
 */
public class SparkSession implements java.io.Closeable {
  private static final StandinLog LOG = StandinLog.get("SparkSession");
  private static final Object LOCK = new Object();
  private static SparkSession defaultSession;
  private static final InheritableThreadLocal<SparkSession> ACTIVE = new InheritableThreadLocal<>();

  private final SparkContext sparkContext;
  private final Map<String, String> sessionConf;

  private SparkSession(SparkContext sc, Map<String, String> conf) {
    this.sparkContext = sc;
    this.sessionConf = new LinkedHashMap<>(conf);
  }

  public static Builder builder() {
    return new Builder();
  }

  public static Option<SparkSession> getActiveSession() {
    return Option.apply(usable(ACTIVE.get()));
  }

  public static Option<SparkSession> getDefaultSession() {
    synchronized (LOCK) {
      return Option.apply(usable(defaultSession));
    }
  }

  public static SparkSession active() {
    SparkSession s = usable(ACTIVE.get());
    if (s == null) {
      synchronized (LOCK) {
        s = usable(defaultSession);
      }
    }
    if (s == null) {
      throw new IllegalStateException("No active or default Spark session found");
    }
    return s;
  }

  public static void setActiveSession(SparkSession session) {
    ACTIVE.set(session);
  }

  private static SparkSession usable(SparkSession s) {
    return s != null && !s.sparkContext.isStopped() ? s : null;
  }

  public SparkContext sparkContext() {
    return sparkContext;
  }

  public String version() {
    return sparkContext.version();
  }

  /** Session-local settings (stand-in replacement for the RuntimeConfig API). */
  public Map<String, String> sessionConf() {
    return sessionConf;
  }

  public SparkSession newSession() {
    return new SparkSession(sparkContext, sessionConf);
  }

  public void stop() {
    sparkContext.stop();
  }

  @Override
  public void close() {
    stop();
  }

  /** Builder for SparkSession; options override the configuration of a new context. */
  public static class Builder {
    private final Map<String, String> options = new LinkedHashMap<>();
    private SparkContext userContext;

    public Builder appName(String name) {
      return config("spark.app.name", name);
    }

    public Builder master(String master) {
      return config("spark.master", master);
    }

    public Builder config(String key, String value) {
      options.put(key, value);
      return this;
    }

    public Builder config(String key, long value) {
      return config(key, Long.toString(value));
    }

    public Builder config(String key, double value) {
      return config(key, Double.toString(value));
    }

    public Builder config(String key, boolean value) {
      return config(key, Boolean.toString(value));
    }

    public Builder config(SparkConf conf) {
      for (scala.Tuple2<String, String> kv : conf.getAll()) {
        options.put(kv._1(), kv._2());
      }
      return this;
    }

    public Builder enableHiveSupport() {
      return config("spark.sql.catalogImplementation", "hive");
    }

    /** private[spark] in Spark, public in bytecode. */
    public Builder sparkContext(SparkContext sc) {
      userContext = sc;
      return this;
    }

    public SparkSession getOrCreate() {
      synchronized (LOCK) {
        SparkSession existing = usable(ACTIVE.get());
        if (existing == null) {
          existing = usable(defaultSession);
        }
        if (existing != null && (userContext == null || existing.sparkContext == userContext)) {
          if (!options.isEmpty()) {
            LOG.warn("Using an existing Spark session; only runtime SQL configurations will "
                + "take effect.");
            existing.sessionConf.putAll(options);
          }
          return existing;
        }
        SparkContext sc = userContext;
        if (sc == null) {
          SparkConf conf = new SparkConf();
          for (Map.Entry<String, String> e : options.entrySet()) {
            conf.set(e.getKey(), e.getValue());
          }
          if (!conf.contains("spark.app.name")) {
            conf.setAppName(UUID.randomUUID().toString());
          }
          sc = SparkContext.getOrCreate(conf);
        }
        Map<String, String> initial = new LinkedHashMap<>();
        for (scala.Tuple2<String, String> kv : sc.conf().getAll()) {
          initial.put(kv._1(), kv._2());
        }
        initial.putAll(options);
        SparkSession session = new SparkSession(sc, initial);
        defaultSession = session;
        ACTIVE.set(session);
        return session;
      }
    }
  }
}
