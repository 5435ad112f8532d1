package org.apache.spark.sql.connect;

import java.util.Collections;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.apache.spark.sql.connect.service.SparkConnectService;
import scala.Option;

/** spark.plugins entry: the Connect service starts with the SparkContext and stops with it. */
public class SparkConnectPlugin implements SparkPlugin {
  @Override
  public DriverPlugin driverPlugin() {
    return new DriverPlugin() {
      @Override
      public Map<String, String> init(SparkContext sc, PluginContext pluginContext) {
        SparkConnectService.start(sc);
        return Collections.emptyMap();
      }

      @Override
      public void shutdown() {
        SparkConnectService.stop(Option.empty(), Option.empty());
      }
    };
  }

  @Override
  public ExecutorPlugin executorPlugin() {
    return null;
  }
}
