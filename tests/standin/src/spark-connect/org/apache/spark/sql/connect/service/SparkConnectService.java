package org.apache.spark.sql.connect.service;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkContext;
import scala.Option;

/**
 * The class half of SparkConnectService. Like scalac, it carries static forwarders to the
 * companion object {@link SparkConnectService$}, where the state lives.
 */
public class SparkConnectService {
  private final boolean debug;

  public SparkConnectService(boolean debug) {
    this.debug = debug;
  }

  public boolean debug() {
    return debug;
  }

  public static void start(SparkContext sc) {
    SparkConnectService$.MODULE$.start(sc);
  }

  public static void stop(Option<Object> timeout, Option<TimeUnit> unit) {
    SparkConnectService$.MODULE$.stop(timeout, unit);
  }

  public static Option<Object> stop$default$1() {
    return SparkConnectService$.MODULE$.stop$default$1();
  }

  public static Option<TimeUnit> stop$default$2() {
    return SparkConnectService$.MODULE$.stop$default$2();
  }

  public static int localPort() {
    return SparkConnectService$.MODULE$.localPort();
  }

  public static String hostAddress() {
    return SparkConnectService$.MODULE$.hostAddress();
  }

  public static InetSocketAddress bindingAddress() {
    return SparkConnectService$.MODULE$.bindingAddress();
  }

  public static boolean started() {
    return SparkConnectService$.MODULE$.started();
  }

  public static boolean stopped() {
    return SparkConnectService$.MODULE$.stopped();
  }

  public static scala.util.Either<Object, Object> listActiveExecutions() {
    return SparkConnectService$.MODULE$.listActiveExecutions();
  }
}
