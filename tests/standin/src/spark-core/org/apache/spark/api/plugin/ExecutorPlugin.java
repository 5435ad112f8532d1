package org.apache.spark.api.plugin;

import java.util.Map;

public interface ExecutorPlugin {
  default void init(PluginContext ctx, Map<String, String> extraConf) {}

  default void shutdown() {}
}
