package org.apache.spark.sql.connect.service;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.package$;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.Utils;
import scala.Option;

/** The Scala object SparkConnectServer: the main of a standalone Spark Connect server. */
public final class SparkConnectServer$ {
  public static final SparkConnectServer$ MODULE$ = new SparkConnectServer$();
  private static final StandinLog LOG = StandinLog.get("SparkConnectServer");

  private SparkConnectServer$() {}

  public void main(String[] args) {
    boolean v4 = package$.MODULE$.majorVersion() >= 4;
    SparkConnectService$ svc = SparkConnectService$.MODULE$;
    LOG.info("Starting Spark session.");
    SparkSession.Builder builder = SparkSession.builder();
    if (v4) {
      builder.config("spark.sql.session.isolateArtifacts", "true");
    }
    SparkSession session = builder.getOrCreate();
    try {
      try {
        svc.start(session.sparkContext());
        if (v4) {
          InetSocketAddress isa = svc.bindingAddress();
          LOG.info("Spark Connect server started at: " + isa.getAddress().getHostAddress() + ":"
              + isa.getPort());
        } else {
          for (SocketAddress sa : svc.listenSockets()) {
            InetSocketAddress isa = (InetSocketAddress) sa;
            LOG.info("Spark Connect server started at: " + isa.getAddress().getHostAddress()
                + ":" + isa.getPort());
          }
        }
      } catch (Exception e) {
        LOG.error("Error starting Spark Connect server", e);
        System.exit(-1);
      }
      // As Spark: when the gRPC server terminates on its own, main stops the service and
      // the session in the finally below and returns normally.
      svc.awaitTermination();
    } catch (InterruptedException e) {
      throw Utils.rethrow(e);
    } finally {
      if (v4 && svc.started()) {
        svc.stop(Option.empty(), Option.empty());
      }
      session.stop();
    }
  }
}
