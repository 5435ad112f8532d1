package org.apache.spark;

import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/** Key/value configuration; by default loaded from the spark.* system properties. */
public class SparkConf implements Cloneable, java.io.Serializable {
  private final ConcurrentHashMap<String, String> settings = new ConcurrentHashMap<>();

  public SparkConf() {
    this(true);
  }

  public SparkConf(boolean loadDefaults) {
    if (loadDefaults) {
      for (String key : System.getProperties().stringPropertyNames()) {
        if (key.startsWith("spark.")) {
          settings.put(key, System.getProperty(key));
        }
      }
    }
  }

  public SparkConf set(String key, String value) {
    if (key == null) {
      throw new NullPointerException("null key");
    }
    if (value == null) {
      throw new NullPointerException("null value for " + key);
    }
    settings.put(key, value);
    return this;
  }

  public SparkConf setIfMissing(String key, String value) {
    settings.putIfAbsent(key, value);
    return this;
  }

  public SparkConf setMaster(String master) {
    return set("spark.master", master);
  }

  public SparkConf setAppName(String name) {
    return set("spark.app.name", name);
  }

  public SparkConf remove(String key) {
    settings.remove(key);
    return this;
  }

  public String get(String key) {
    String v = settings.get(key);
    if (v == null) {
      throw new NoSuchElementException(key);
    }
    return v;
  }

  public String get(String key, String defaultValue) {
    return settings.getOrDefault(key, defaultValue);
  }

  public scala.Option<String> getOption(String key) {
    return scala.Option.apply(settings.get(key));
  }

  public int getInt(String key, int defaultValue) {
    String v = settings.get(key);
    return v == null ? defaultValue : Integer.parseInt(v.trim());
  }

  public long getLong(String key, long defaultValue) {
    String v = settings.get(key);
    return v == null ? defaultValue : Long.parseLong(v.trim());
  }

  public boolean getBoolean(String key, boolean defaultValue) {
    String v = settings.get(key);
    return v == null ? defaultValue : Boolean.parseBoolean(v.trim());
  }

  public boolean contains(String key) {
    return settings.containsKey(key);
  }

  @SuppressWarnings("unchecked")
  public scala.Tuple2<String, String>[] getAll() {
    return settings.entrySet().stream()
        .map(e -> new scala.Tuple2<>(e.getKey(), e.getValue()))
        .toArray(scala.Tuple2[]::new);
  }

  /** Sorted copy of all settings (stand-in helper). */
  public Map<String, String> getAllAsSortedMap() {
    return new TreeMap<>(settings);
  }

  @Override
  public SparkConf clone() {
    SparkConf c = new SparkConf(false);
    c.settings.putAll(settings);
    return c;
  }
}
