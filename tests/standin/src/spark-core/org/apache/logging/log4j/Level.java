package org.apache.logging.log4j;

/** The part of log4j2's Level that sparkshim uses (stand-in; Spark ships log4j2). */
public final class Level {
  private final String name;

  private Level(String name) {
    this.name = name;
  }

  /** The level named (any case); DEBUG for a name that is none, as log4j2 does. */
  public static Level toLevel(String name) {
    String n = name == null ? "DEBUG" : name.trim().toUpperCase(java.util.Locale.ROOT);
    switch (n) {
      case "OFF": case "FATAL": case "ERROR": case "WARN": case "INFO": case "DEBUG":
      case "TRACE": case "ALL":
        return new Level(n);
      default:
        return new Level("DEBUG");
    }
  }

  public String name() {
    return name;
  }

  @Override
  public String toString() {
    return name;
  }
}
