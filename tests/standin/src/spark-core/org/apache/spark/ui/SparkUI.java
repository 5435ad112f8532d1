package org.apache.spark.ui;

import java.io.IOException;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.apache.spark.SparkConf;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.util.Utils;

/**
 * The stand-in's web UI: no pages, but it binds like Spark's (WebUI.bind): on
 * SPARK_LOCAL_IP (else 0.0.0.0), spark.ui.port (4040) through Utils.startServiceOnPort with
 * spark.port.maxRetries (16) retries, and when it cannot, logs "Failed to bind SparkUI" with
 * the BindException and calls System.exit(1). It answers HTTP with a redirect to /jobs/.
 */
public final class SparkUI {
  private static final StandinLog LOG = StandinLog.get("SparkUI");

  private final ServerSocket socket;
  private final String host;

  private SparkUI(ServerSocket socket, String host) {
    this.socket = socket;
    this.host = host;
  }

  /** SparkContext's `_ui.foreach(_.bind())`: returns the bound UI or exits the JVM with 1. */
  public static SparkUI bind(SparkConf conf) {
    String local = System.getenv("SPARK_LOCAL_IP");
    String host = local == null || local.isEmpty() ? "0.0.0.0" : local;
    int port = conf.getInt("spark.ui.port", 4040);
    int maxRetries = conf.getInt("spark.port.maxRetries", 16);
    Utils.PortService<ServerSocket> svc = new Utils.PortService<ServerSocket>() {
      @Override
      public ServerSocket start(int p) throws Exception {
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        InetSocketAddress at = new InetSocketAddress(host, p);
        try {
          ss.bind(at);
        } catch (BindException e) {
          ss.close();
          // Jetty's ServerConnector.open: IOException("Failed to bind to /host:port", cause)
          throw new IOException("Failed to bind to " + at, e);
        }
        return ss;
      }

      @Override
      public int boundPort(ServerSocket ss) {
        return ss.getLocalPort();
      }
    };
    try {
      ServerSocket ss = Utils.startServiceOnPort(port, svc, maxRetries, "SparkUI");
      SparkUI ui = new SparkUI(ss, host);
      ui.serve();
      return ui;
    } catch (Exception e) {
      LOG.error("Failed to bind SparkUI", e);
      System.exit(1);
      throw new IllegalStateException(e); // not reached
    }
  }

  public int boundPort() {
    return socket.getLocalPort();
  }

  public void logBound(String webUrl) {
    LOG.info("Bound SparkUI to " + host + ", and started at " + webUrl);
  }

  private void serve() {
    Thread t = new Thread(() -> {
      byte[] reply = ("HTTP/1.1 302 Found\r\nLocation: /jobs/\r\nContent-Length: 0\r\n"
          + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
      while (!socket.isClosed()) {
        try (Socket c = socket.accept(); OutputStream out = c.getOutputStream()) {
          out.write(reply);
        } catch (IOException e) {
          // closed by stop(), or the client went away
        }
      }
    }, "SparkUI-acceptor");
    t.setDaemon(true);
    t.start();
  }

  public void stop() {
    try {
      socket.close();
    } catch (IOException e) {
      // nothing to do
    }
  }
}
