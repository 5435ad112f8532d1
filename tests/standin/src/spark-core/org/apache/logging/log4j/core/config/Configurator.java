package org.apache.logging.log4j.core.config;

import org.apache.logging.log4j.Level;
import org.apache.spark.internal.StandinLog;

/** The part of log4j2's Configurator that sparkshim uses (stand-in). */
public final class Configurator {
  private Configurator() {}

  /** Sets the level of one logger, by its full name. */
  public static void setLevel(String loggerName, Level level) {
    StandinLog.setLoggerLevel(loggerName, level.name());
  }
}
