package org.apache.spark.api.plugin;

/** A plugin with a driver and an executor component, named in spark.plugins. */
public interface SparkPlugin {
  DriverPlugin driverPlugin();

  ExecutorPlugin executorPlugin();
}
