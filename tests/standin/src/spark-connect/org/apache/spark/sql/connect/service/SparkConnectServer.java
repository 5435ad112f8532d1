package org.apache.spark.sql.connect.service;

/** Static forwarder for the SparkConnectServer object, as scalac emits it. */
public final class SparkConnectServer {
  private SparkConnectServer() {}

  public static void main(String[] args) {
    SparkConnectServer$.MODULE$.main(args);
  }
}
